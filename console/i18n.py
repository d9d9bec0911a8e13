"""The dashboard's words in English and Simplified Chinese, and which one a request gets: the
user's choice (cookie `rb_lang`), else the browser's Accept-Language, else English. Times are
shown in the site's timezone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

LANGS = ("en", "zh-CN")
COOKIE = "rb_lang"

_ZH = {
    "Sites": "站点",
    "My tasks": "我的任务",
    "Sign in": "登录",
    "Sign out": "退出",
    "Access token": "访问令牌",
    "Sites in lockdown": "封控中的站点",
    "No site is in lockdown and no run is running.": "当前没有封控站点，也没有运行中的预案。",
    "Lockdown declared": "封控宣布于",
    "by": "由",
    "DRILL": "演练",
    "Run": "预案执行",
    "Progress": "进度",
    "Overdue": "已逾期",
    "Blocked": "受阻",
    "Objectives": "目标",
    "Objective": "目标",
    "Value": "当前值",
    "Target": "目标值",
    "Deadline": "截止",
    "Time left": "剩余时间",
    "Forecast": "预计达成",
    "met": "已达成",
    "on track": "按计划",
    "at risk": "有风险",
    "no forecast yet": "暂无预测",
    "Phases": "阶段",
    "Step": "步骤",
    "Funnel": "人员流程",
    "reached": "已完成",
    "stuck": "停留",
    "for": "已",
    "Step graph": "步骤图",
    "Live events": "实时事件",
    "Audit": "审计",
    "Task": "任务",
    "Owner": "负责人",
    "State": "状态",
    "Due": "截止",
    "Note": "备注",
    "Reason": "原因",
    "Check off": "完成",
    "Approve": "批准",
    "Reject": "驳回",
    "Check off selected": "批量完成所选",
    "Approve selected": "批量批准所选",
    "Select all": "全选",
    "Nothing to do: no task of yours is open.": "没有待办：您负责的任务都已完成。",
    "Skip": "跳过",
    "Retry": "重试",
    "Reassign": "转派",
    "to": "给",
    "Cancel run": "取消执行",
    "Interventions (manager, with a reason)": "干预（经理，须填写原因）",
    "Restock": "补充库存",
    "from site": "调出站点",
    "count": "数量",
    "pool": "资源池",
    "Check-offs": "完成记录",
    "verified": "校验通过",
    "NOT VERIFIED": "校验失败",
    "Call list": "电话名单",
    "Closed by": "结束人",
    "Answer": "回答",
    "Answer for": "代为回答",
    "no link sent": "未发送链接",
    "No personal channel reaches them: no link was sent": "没有可联系本人的个人渠道：未发送链接",
    "Record": "记录",
    "Everyone on your list has answered.": "您名单上的人员均已回复。",
    "Close the roll call": "结束点名",
    "No more answers after this; those still missing are told the center closed it.": "此后不再接受回答；尚未回复的人员会被告知点名已由中心结束。",
    "Headcount": "人员统计",
    "late": "逾期",
    "no answer": "未回复",
    "asked": "应答人数",
    "Unaccounted": "下落未明",
    "Detail": "详情",
    "Print": "打印",
    "People who have not answered": "尚未回复的人员",
    "Team": "团队",
    "Leads": "负责人",
    "Name": "姓名",
    "Phone": "电话",
    "Called": "已致电",
    "Outcome": "结果",
    "none": "无",
    "Started": "开始于",
    "tasks": "个任务",
    "answered": "已回复",
    "Overriding: this task is not your team's; give a reason.": "越权操作：该任务不属于您的团队，请填写原因。",
    "Done.": "已完成。",
    "results": "结果",
    "Language": "语言",
    "Back to the run": "返回预案",
    "When": "时间",
    "Who": "操作人",
    "What": "操作",
    "Roll call": "点名",
    "Allocated": "已分配",
    "value now": "当前",
    "Signed in as": "当前用户",
    "Run state": "执行状态",
    "updated": "更新于",
    "Show all": "查看全部",
    "of": "/",
    "failed": "失败",
    "skipped": "跳过",
    "cancelled": "已取消",
    "Chain": "审计链",
    "not met": "未达成",
    "Coverage": "服务覆盖",
    "Required agents (Erlang C) against staffed agents, per interval, in the site's local time.": "按时段（站点当地时间）对比所需坐席（Erlang C）与在岗坐席。",
    "Supplied by run": "坐席来自预案执行",
    "No running run: the baseline counts.": "没有运行中的预案：按基准排班计算。",
    "covered": "已覆盖",
    "short": "缺口",
    "darker: more short": "颜色越深缺口越大",
    "staffed": "在岗",
    "required": "需要",
    "staff ids, comma-separated": "员工编号，用逗号分隔",
    "No site has a 7x24 service.": "没有站点配置7x24服务。",
    "7x24 coverage of every site": "各站点7x24服务覆盖",
    "no calls": "无来电",
    "of intervals covered": "的时段已覆盖",
    "gaps": "个缺口",
    "Short intervals": "缺口时段",
    "Skip, retry or reassign a task from its page: every task above links to it.": "跳过、重试或转派任务请在任务页面操作：上面每个任务都有链接。",
}
# Hand-overs, a person's page, filters, paging and exports.
_ZH.update(
    {
        "Asset": "资产",
        "handed over": "已交接",
        "Answers": "回复",
        "Pipeline": "流程",
        "changed": "已更改",
        "People": "人员",
        "Find a person": "查找人员",
        "Name or ID": "姓名或工号",
        "Nobody on the roster matches.": "名册中没有匹配的人员。",
        "Filter": "筛选",
        "Previous": "上一页",
        "Next": "下一页",
        "Page": "页",
        "Tasks": "任务",
        "Type the tag of the asset you hand over: the allocated one, or another available one of the pool "
        "(the allocation follows it).": "请输入实际交接资产的编号：可以是已分配的那台，也可以是该资产池中另一台可用的（分配随之变更）。",
    }
)

# A manager's actions and the run's timeline (issue 26).
_ZH.update(
    {
        "IN LOCKDOWN": "封控中",
        "normal operation": "正常运营",
        "Stand down": "解除封控",
        "Standing down ends the lockdown and starts the site's stand-down runbooks.": "解除封控将结束封控并启动该站点的解封预案。",
        "Declare a lockdown": "宣布封控",
        "Drill (messages go to the drill channel)": "演练（消息只发往演练频道）",
        "Real lockdown: everyone is told": "真实封控：所有人都会收到通知",
        "For a real lockdown, type the site id": "如为真实封控，请输入站点编号",
        "To confirm, type the site id": "请输入站点编号以确认",
        "Runbooks": "预案库",
        "Starts on": "触发事件",
        "steps": "个步骤",
        "Start this runbook": "启动此预案",
        "Site": "站点",
        "yes": "是",
        "no": "否",
        "Drill or real": "演练或真实",
        "Real run: everyone is told": "真实执行：所有人都会收到通知",
        "For a real run, type the site id": "如为真实执行，请输入站点编号",
        "Start": "启动",
        "This runbook validates against no site of the library.": "此预案不适用于库中的任何站点。",
        "Inputs": "输入参数",
        "default": "默认",
        "Sites it validates for": "适用站点",
        "Timeline": "时间线",
        "Status update (to the timeline and the site's channel)": "进展通报（显示在时间线并发送到站点频道）",
        "Post update": "发布通报",
        "Add an ad-hoc task": "添加临时任务",
        "Title": "标题",
        "Due in": "期限",
        "Add task": "添加任务",
        "run.started": "预案启动",
        "run.update": "进展通报",
        "objective.reached": "目标达成",
        "objective.at_risk": "目标有风险",
        "muster.closed": "点名结束",
        "coverage.gap": "排班缺口",
        "run.completed": "预案完成",
        "run.failed": "预案失败",
        "run.cancelled": "预案取消",
        "Skip to the content": "跳到正文",
        "Checked off ✓": "已完成 ✓",
        "Approved ✓": "已批准 ✓",
        "Rejected ✓": "已驳回 ✓",
        "Skipped ✓": "已跳过 ✓",
        "Sent back to retry ✓": "已重新执行 ✓",
        "Reassigned ✓": "已改派 ✓",
        "Run cancelled ✓": "预案已取消 ✓",
        "Restocked ✓": "已补充库存 ✓",
        "Lockdown declared ✓": "已宣布封控 ✓",
        "Stood down ✓": "已解除封控 ✓",
        "Run started ✓": "预案已启动 ✓",
        "Task added ✓": "任务已添加 ✓",
        "Update posted ✓": "通报已发布 ✓",
        "Next open task of this step": "本步骤的下一项待办任务",
    }
)

# States, kinds, funnel stages, events and audit actions: the engine's words, shown translated.
_ZH.update(
    {
        "pending": "待开始",
        "ready": "就绪",
        "running": "进行中",
        "waiting": "待处理",
        "done": "已完成",
        "failed": "失败",
        "rejected": "已驳回",
        "skipped": "已跳过",
        "cancelled": "已取消",
        "completed": "已完成",
        "active": "进行中",
        "manual": "人工",
        "approval": "审批",
        "muster": "点名",
        "allocate": "分配",
        "http": "接口调用",
        "notify": "通知",
        "wait": "等待",
        "calls": "电话联系",
        "answered": "已应答",
        "laptop": "笔记本电脑",
        "setup": "系统开通",
        "training": "培训",
        "go_live": "上线",
        "site.lockdown": "站点封控",
        "site.standdown": "解除封控",
        "task.assigned": "任务分派",
        "task.reminder": "任务提醒",
        "task.overdue": "任务逾期",
        "task.escalated": "任务升级",
        "task.done": "任务完成",
        "task.failed": "任务失败",
        "task.cancelled": "任务取消",
        "approval.requested": "请求审批",
        "muster.request": "点名请求",
        "muster.answer": "点名应答",
        "message": "消息",
        "event": "事件",
        "access.denied": "拒绝访问",
        "account.add": "添加账户",
        "account.revoke": "吊销账户",
        "audit.key.rotate": "轮换审计密钥",
        "audit.migrate": "审计迁移",
        "audit.reanchor": "审计重新锚定",
        "outbox.retry": "重发通知",
        "pool.restock": "补充库存",
        "calls.done": "电话联系完成",
        "muster.close": "结束点名",
        "pool.allocate": "分配资产",
        "pool.release": "释放资产",
        "pool.return": "归还资产",
        "pool.shortage": "资产短缺",
        "pool.swap": "更换资产",
        "run.cancel": "取消预案",
        "run.reopen": "重新打开预案",
        "run.start": "启动预案",
        "task.add": "添加任务",
        "task.complete": "完成任务",
        "task.reassign": "改派任务",
        "task.retry": "重试任务",
        "task.retry_scheduled": "计划重试",
        "task.skip": "跳过任务",
        "task.start": "开始任务",
        "complete": "完成",
        "approve": "批准",
        "reject": "驳回",
    }
)


def pick(query: str | None, cookie: str | None, accept: str | None) -> str:
    for choice in (query, cookie):
        if choice in LANGS:
            return choice
    for part in (accept or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return "en"


def translator(lang: str) -> Callable[[str], str]:
    table = _ZH if lang == "zh-CN" else {}
    return lambda text: table.get(text, text)


def local_time(value: str | datetime | None, tz: str, with_date: bool = True, seconds: bool = False) -> str:
    """An ISO time from the store (UTC) → the site's local time with its zone's abbreviation,
    e.g. `12-23 08:05 CST` (`seconds`: `12-23 08:05:09 CST`; without the date: `08:05:09 CST`).
    One clock on every page; the JSON stays ISO 8601 in UTC."""
    if not value:
        return "–"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    try:
        moment = moment.astimezone(ZoneInfo(tz))
    except ZoneInfoNotFoundError:
        pass
    if not with_date:
        return moment.strftime("%H:%M:%S %Z").strip()
    return moment.strftime("%m-%d %H:%M:%S %Z" if seconds else "%m-%d %H:%M %Z").strip()


def zone_abbreviation(tz: str) -> str:
    """The zone's abbreviation now (`CST` for Asia/Shanghai), as the pages print it."""
    try:
        return datetime.now(ZoneInfo(tz)).strftime("%Z")
    except ZoneInfoNotFoundError:
        return tz


def feed_words(lang: str) -> dict[str, str]:
    """The live feed's words (events and states) in `lang`, for /static/app.js."""
    if lang != "zh-CN":
        return {}
    from flows.states import RUN_STATES, STATES
    from runbooks.models import EVENTS

    names = [*EVENTS, "muster.answer", "muster.closed", *STATES, *RUN_STATES]
    return {n: _ZH[n] for n in names if n in _ZH}


def duration(seconds: int | float | None, lang: str = "en") -> str:
    if seconds is None:
        return "–"
    sign = "-" if seconds < 0 else ""
    s = int(abs(seconds))
    d, h, m = s // 86400, s % 86400 // 3600, s % 3600 // 60
    units = ("天", "小时", "分") if lang == "zh-CN" else ("d", "h", "m")
    if d:
        return f"{sign}{d}{units[0]}{h}{units[1]}"
    if h:
        return f"{sign}{h}{units[1]}{m}{units[2]}"
    return f"{sign}{m}{units[2]}" if m else f"{sign}{s}s"
