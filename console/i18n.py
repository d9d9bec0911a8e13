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

# Sign-in through the identity provider (OpenID Connect).
_ZH.update(
    {
        "Sign in with": "登录方式：",
        "or, for break-glass access, with an access token": "或使用访问令牌（应急访问）",
        "Signed in": "已登录",
        "Continue": "继续",
        "You are signed out of the dashboard.": "您已退出控制台。",
        "Sign out at the identity provider too": "同时退出身份提供方",
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


def local_time(value: str | datetime | None, tz: str, with_date: bool = True) -> str:
    """An ISO time from the store (UTC) → the site's local time, e.g. `12-23 08:05`."""
    if not value:
        return "–"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    try:
        moment = moment.astimezone(ZoneInfo(tz))
    except ZoneInfoNotFoundError:
        pass
    return moment.strftime("%m-%d %H:%M" if with_date else "%H:%M:%S")


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
