"""Console texts in Chinese (default) and English.

One table, keyed by a stable id; stored codes (decisions, reasons, alarm kinds, barrier
states) are translated through ``code.<value>`` so a new code shows as itself rather than
breaking the page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")

_TEXTS: dict[str, tuple[str, str]] = {
    "app.title": ("停车门禁岗亭控制台", "Parkgate booth console"),
    "nav.live": ("实时监控", "Live"),
    "nav.users": ("用户", "Users"),
    "nav.households": ("住户与车辆", "Households & vehicles"),
    "nav.passes": ("访客通行证", "Visitor passes"),
    "nav.lists": ("黑白名单", "Plate lists"),
    "nav.audit": ("操作日志", "Audit log"),
    "nav.logout": ("退出登录", "Log out"),
    "nav.lang": ("English", "中文"),
    "role.guard": ("保安", "Guard"),
    "role.admin": ("管理员", "Admin"),
    "login.title": ("登录", "Log in"),
    "login.username": ("用户名", "Username"),
    "login.password": ("密码", "Password"),
    "login.submit": ("登录", "Log in"),
    "login.failed": ("用户名或密码错误", "Wrong username or password"),
    "login.stale": ("页面已过期，请重新输入并登录", "The page was stale: please log in again"),
    "login.throttled": ("登录失败次数过多，请5分钟后再试",
                        "Too many failed logins: wait 5 minutes"),
    "login.expired": ("长时间未操作，已自动退出，请重新登录", "Logged out after inactivity"),
    "login.bye": ("已退出登录", "You are logged out"),
    "forbidden.title": ("无权访问", "Not allowed"),
    "forbidden.text": ("此页面仅限管理员使用。如需修改，请联系物业管理员。",
                       "This page is for administrators. Ask the property office."),
    "forbidden.back": ("返回实时监控", "Back to the live view"),
    "outage.title": ("数据库暂时不可用", "The database is unavailable"),
    "outage.text": (
        "道闸仍在离线运行：已登记的车辆和已录入人脸的居民按最近一次数据快照放行，"
        "其他车辆请人工处理。所有通行记录已保存在本机，数据库恢复后自动写入，本页会自动刷新。",
        "The gates keep running offline: registered vehicles and enrolled faces are let in "
        "from the last snapshot; other vehicles need a guard. Every passage is kept on this "
        "machine and written to the database as soon as it is back. This page refreshes "
        "itself.",
    ),
    "outage.waiting": ("等待写入的通行记录", "Passages waiting to be written"),
    "gates.title": ("道闸状态", "Gates"),
    "gates.open": ("开闸", "Open"),
    "gates.close": ("关闸", "Close"),
    "gates.hold_open": ("常开", "Hold open"),
    "gates.release": ("取消常开", "Release"),
    "reason.title": ("操作原因", "Reason"),
    "reason.other": ("其他（请填写）", "Other (type below)"),
    "reason.free": ("补充说明", "Details"),
    "reason.required": ("请选择或填写原因（至少2个字）", "Choose or type a reason (2+ characters)"),
    "reason.p1": ("访客无通行证，业主确认", "Visitor without pass, host confirmed"),
    "reason.p2": ("车牌无法识别", "Plate not readable"),
    "reason.p3": ("救护车/消防/警车", "Ambulance / fire / police"),
    "reason.p4": ("快递外卖临时进入", "Courier / delivery"),
    "reason.p5": ("设备故障处理", "Equipment fault"),
    "reason.p6": ("高峰时段疏导", "Rush-hour traffic"),
    "action.confirm": ("确认", "Confirm"),
    "action.cancel": ("取消", "Cancel"),
    "alarms.title": ("报警", "Alarms"),
    "alarms.none": ("当前无未处理报警", "No open alarms"),
    "alarms.ack": ("确认处理", "Acknowledge"),
    "alarms.sound_on": ("提示音：开", "Sound: on"),
    "alarms.sound_off": ("提示音：关", "Sound: off"),
    "review.title": ("待人工处理", "Review queue"),
    "review.none": ("没有待处理车辆", "Nothing waiting"),
    "review.plate": ("车牌（可修改）", "Plate (correct if needed)"),
    "review.allow_once": ("放行一次", "Allow once"),
    "review.visitor_pass": ("登记访客并放行", "Register visitor & allow"),
    "review.deny": ("拒绝", "Deny"),
    "review.host": ("被访住户", "Host household"),
    "review.duration": ("有效时长", "Valid for"),
    "review.hours": ("小时", "hours"),
    "review.read": ("识别结果", "Read"),
    "passages.title": ("实时通行记录", "Live passages"),
    "passages.none": ("暂无通行记录", "No passages yet"),
    "col.time": ("时间", "Time"),
    "col.gate": ("出入口", "Gate"),
    "col.snapshot": ("抓拍", "Snapshot"),
    "col.plate": ("车牌", "Plate"),
    "col.matched": ("匹配到的登记车牌", "Matched registered plate"),
    "col.confidence": ("置信度", "Confidence"),
    "col.decision": ("结果", "Decision"),
    "col.reason": ("原因", "Reason"),
    "col.who": ("住户/通行证", "Resident / pass"),
    "col.user": ("操作人", "User"),
    "col.action": ("操作", "Action"),
    "col.passage": ("通行记录", "Passage"),
    "col.details": ("详情", "Details"),
    "col.role": ("角色", "Role"),
    "col.active": ("状态", "Status"),
    "col.created": ("创建时间", "Created"),
    "filter.all_gates": ("全部出入口", "All gates"),
    "filter.all_decisions": ("全部结果", "All decisions"),
    "filter.search": ("查询", "Search"),
    "filter.since": ("开始日期", "From"),
    "filter.until": ("结束日期（含）", "To (inclusive)"),
    "audit.export": ("导出CSV", "Export CSV"),
    "audit.total": ("共 {n} 条", "{n} entries"),
    "users.create": ("新建用户", "New user"),
    "users.deactivate": ("停用", "Deactivate"),
    "users.activate": ("启用", "Activate"),
    "users.active": ("启用中", "Active"),
    "users.inactive": ("已停用", "Inactive"),
    "users.self": ("不能停用自己的账号", "You cannot deactivate yourself"),
    "users.created": ("用户已创建", "User created"),
    "admin.create": ("添加", "Add"),
    "admin.delete": ("删除", "Delete"),
    "admin.confirm_delete": ("确定删除？", "Delete this?"),
    "hh.title": ("住户", "Households"),
    "hh.building": ("楼栋", "Building"),
    "hh.unit": ("房号", "Unit"),
    "hh.spaces": ("车位数", "Spaces"),
    "hh.note": ("备注", "Note"),
    "res.title": ("住户成员", "Residents"),
    "res.name": ("姓名", "Name"),
    "res.phone": ("电话", "Phone"),
    "veh.title": ("车辆", "Vehicles"),
    "veh.color": ("车牌颜色", "Plate colour"),
    "pass.from": ("开始时间", "Valid from"),
    "pass.to": ("结束时间", "Valid to"),
    "pass.max_uses": ("可用次数（空为不限）", "Uses (empty: unlimited)"),
    "pass.uses": ("已用", "Used"),
    "list.kind": ("类型", "Kind"),
    "list.allow": ("白名单", "Allow list"),
    "list.block": ("黑名单", "Block list"),
    "field.household": ("住户", "Household"),
    "field.none": ("（无）", "(none)"),
    "msg.saved": ("已保存", "Saved"),
    "msg.failed": ("操作失败", "Failed"),
    "msg.network": ("网络错误，请重试", "Network error, try again"),
    "msg.live_lost": ("实时连接中断，正在重连…", "Live connection lost, reconnecting…"),
    "code.allow": ("放行", "Allowed"),
    "code.deny": ("拒绝", "Denied"),
    "code.review": ("待人工", "Review"),
    "code.allowed_once": ("人工放行", "Allowed by guard"),
    "code.visitor_pass": ("访客通行证", "Visitor pass"),
    "code.denied": ("人工拒绝", "Denied by guard"),
    "code.resident": ("业主车辆", "Resident"),
    "code.resident_over_quota": ("业主超车位", "Resident over quota"),
    "code.pass_not_yet_valid": ("通行证未生效", "Pass not yet valid"),
    "code.pass_expired": ("通行证已过期", "Pass expired"),
    "code.pass_used_up": ("通行证次数用完", "Pass used up"),
    "code.blocked": ("黑名单", "Blocked"),
    "code.allowed_list": ("白名单", "Allow list"),
    "code.unknown_plate": ("未登记车辆", "Unknown plate"),
    "code.no_plate": ("无法识别车牌", "No plate read"),
    "code.low_confidence": ("识别置信度低", "Low confidence"),
    "code.zone_full": ("车位已满", "Zone full"),
    "code.exit_known_inside": ("正常出场", "Exit"),
    "code.exit_not_inside": ("无入场记录", "Exit without entry"),
    "code.anti_passback": ("重复入场", "Anti-passback"),
    "code.guard_override": ("人工放行", "Guard override"),
    "code.blocked_plate": ("黑名单车辆", "Blocked plate"),
    "code.hardware_fault": ("设备故障", "Hardware fault"),
    "code.occupancy_over_capacity": ("车位计数超限", "Count over capacity"),
    "code.occupancy_below_zero": ("车位计数异常", "Count below zero"),
    "code.overstay": ("超时停车", "Overstay"),
    "code.closed": ("关闭", "Closed"),
    "code.opening": ("正在开启", "Opening"),
    "code.open": ("开启", "Open"),
    "code.closing": ("正在关闭", "Closing"),
    "code.held_open": ("常开", "Held open"),
    "code.fault": ("故障", "Fault"),
    "code.none": ("无道闸", "No barrier"),
    "code.in": ("入口", "In"),
    "code.out": ("出口", "Out"),
    "code.face_resident": ("刷脸通行", "Face: resident"),
    "code.face_unknown": ("未识别人脸", "Face not recognised"),
    "code.liveness_failed": ("活体检测未通过", "Liveness failed"),
    "code.liveness_challenge": ("请转头再试", "Turn head and retry"),
    "code.no_face": ("未检测到人脸", "No face"),
    "code.pin": ("密码通行", "PIN"),
    "code.pin_wrong": ("密码错误", "Wrong PIN"),
    "code.pin_locked": ("密码已锁定", "PIN locked"),
    "code.qr_pass": ("二维码通行", "QR pass"),
    "code.qr_invalid": ("二维码无效", "Invalid QR code"),
    "code.outside_schedule": ("不在通行时段", "Outside schedule"),
    "code.database_unavailable": ("数据库不可用", "Database unavailable"),
    "code.database_outage": ("数据库曾中断", "Database outage"),
    "code.offline": ("离线判定", "Decided offline"),
    "code.province_tolerated": ("省份字存疑已匹配", "Province unsure, matched"),
    "code.fire_alarm": ("火警", "Fire alarm"),
    "code.plate": ("车牌", "Plate"),
    "code.face": ("人脸", "Face"),
    "code.qr": ("二维码", "QR code"),
    "code.admin": ("管理员", "Admin"),
    "code.guard": ("保安", "Guard"),
}

# Keys the browser needs for text it builds itself (dialogs, live rows, errors).
JS_KEYS = (
    "reason.required", "msg.saved", "msg.failed", "msg.network", "msg.live_lost",
    "alarms.sound_on", "alarms.sound_off", "admin.confirm_delete",
)


def translate(lang: Lang, key: str, **values: object) -> str:
    pair = _TEXTS.get(key)
    if pair is None:
        return key.removeprefix("code.")
    text = pair[0] if lang == "zh" else pair[1]
    return text.format(**values) if values else text


def translator(lang: Lang) -> Callable[..., str]:
    def t(key: str, **values: object) -> str:
        return translate(lang, key, **values)

    return t


def code(lang: Lang, value: str | None) -> str:
    return "—" if value is None else translate(lang, f"code.{value}")


def js_texts(lang: Lang) -> dict[str, str]:
    return {key: translate(lang, key) for key in JS_KEYS}
