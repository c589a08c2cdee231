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
    "nav.faces": ("人脸与密码", "Faces & PINs"),
    "nav.site": ("车位与火警", "Zones & fire alarm"),
    "nav.passes": ("访客通行证", "Visitor passes"),
    "nav.lists": ("黑白名单", "Plate lists"),
    "nav.audit": ("操作日志", "Audit log"),
    "nav.reports": ("报表", "Reports"),
    "nav.history": ("通行记录", "Passage history"),
    # The menu's words where the page title is too long for one line of menu at 1366 px.
    "menu.history": ("通行记录", "History"),
    "nav.alarm_history": ("报警记录", "Alarm history"),
    "menu.alarm_history": ("报警记录", "Alarms"),
    "nav.cars_inside": ("场内车辆", "Cars inside"),
    # Two characters: the admin's twelve entries stay on one line at 1366 px.
    "menu.cars_inside": ("场内", "Inside"),
    "menu.passes": ("访客通行证", "Passes"),
    "menu.households": ("住户与车辆", "Households"),
    # The button the menu folds behind on a phone.
    "nav.menu": ("菜单", "Menu"),
    "table.scroll_hint": ("左右滑动查看更多 →", "Swipe sideways for more →"),
    "history.plate_hint": ("完整或部分车牌", "Whole or part of a plate"),
    "history.similar": ("含相似车牌（识别误差）", "Include look-alike reads"),
    "history.whole_plate": (
        "查找相似车牌需要输入完整车牌，例如 闽A12345",
        "A look-alike search needs a whole plate, e.g. 闽A12345",
    ),
    "history.unknown_gate": (
        "没有编号为“{gate}”的出入口（链接可能已过时），请重新选择出入口",
        "There is no gate “{gate}” (the link may be out of date): choose a gate again",
    ),
    "history.capped": (
        "只查了最近5万条，请缩小日期范围",
        "only the newest 50,000 were searched: narrow the dates",
    ),
    "history.pages": ("翻页", "Pages"),
    "history.plate_kind": ("号牌种类", "Plate kind"),
    "history.all_plate_kinds": ("全部号牌种类", "All plate kinds"),
    "history.previous": ("‹ 上一页", "‹ Newer"),
    "history.next": ("下一页 ›", "Older ›"),
    "history.page": ("第 {page} / {pages} 页", "Page {page} of {pages}"),
    "history.one_passage": ("只显示通行记录 #{id}", "Passage #{id} only"),
    "history.show_all": ("显示全部", "Show all"),
    "history.since_time": ("开始时间", "From time"),
    "history.audit_link": ("操作日志", "Audit log"),
    "history.opened_after": ("随后 {at} {by} 手动开闸：{reason}",
                             "Then at {at} {by} opened the gate by hand: {reason}"),
    "history.audit_around": ("前后 10 分钟该出入口的操作", "Gate's audit ±10 min"),
    "audit.one_passage": ("只显示通行记录 #{id} 的操作", "Actions on passage #{id} only"),
    "audit.the_passage": ("查看这条通行记录", "See the passage"),
    "history.until_time": ("结束时间（含）", "To time (inclusive)"),
    "history.times_reversed": (
        "开始时间晚于结束时间，请重新选择时间", "The start time is after the end time: choose again"
    ),
    "history.none": ("没有符合条件的通行记录", "No passages match"),
    # Worded as the lists' other empty lines (没有符合条件的…, No … match); the templates pick
    # .one for a single page ("there are 1 pages" read wrong).
    "history.past_end": (
        "第 {page} 页没有记录：只有 {pages} 页。",
        "No entries on page {page}: there are only {pages} pages.",
    ),
    "history.past_end.one": (
        "第 {page} 页没有记录：只有 {pages} 页。",
        "No entries on page {page}: there is only 1 page.",
    ),
    "history.last_page": ("到最后一页", "Go to the last page"),
    # 报警记录: past alarms and how they were handled (api/console/alarm_history.py)
    "alarm_history.all_kinds": ("全部种类", "All kinds"),
    "alarm_history.all_states": ("全部状态", "Open and acknowledged"),
    "alarm_history.open": ("未处理", "Open"),
    "alarm_history.acknowledged": ("已处理", "Acknowledged"),
    "alarm_history.kind": ("种类", "Kind"),
    "alarm_history.message": ("信息", "Message"),
    "alarm_history.state": ("状态", "State"),
    "alarm_history.by": ("处理人", "By"),
    "alarm_history.at": ("处理时间", "Acknowledged at"),
    "alarm_history.note": ("处理情况", "What they found"),
    "alarm_history.passage": ("通行记录", "Passage"),
    "alarm_history.none": ("没有符合条件的报警", "No alarms match"),
    "alarm_history.unknown_kind": (
        "没有“{kind}”这种报警（链接可能已过时），请重新选择种类",
        "There is no alarm kind “{kind}” (the link may be out of date): choose a kind again",
    ),
    "alarm_history.days_reversed": (
        "开始日期晚于结束日期，请重新选择日期",
        "The start date is after the end date: choose the dates again",
    ),
    "alarm_history.link": ("报警记录", "Alarm history"),
    "report.day": ("日期", "Day"),
    "report.show": ("查看", "Show"),
    "report.before": ("‹ 前一天", "‹ Day before"),
    "report.after": ("后一天 ›", "Day after ›"),
    "report.future": ("该日期尚未开始，没有数据", "That day has not begun: nothing to show"),
    "report.entries": ("车辆入场", "Vehicles in"),
    "report.exits": ("车辆出场", "Vehicles out"),
    "report.automatic": ("自动放行率", "Let in without a guard"),
    "report.to_guard": ("转人工处理", "Sent to a guard"),
    "report.denied": ("拒绝", "Refused"),
    "report.alarms": ("报警", "Alarms"),
    "report.occupancy": ("车位占用", "Occupancy"),
    "report.chart_title": ("{community} · {day} 车位占用", "{community} · occupancy on {day}"),
    "report.chart_alt": (
        "{day} 各区域在场车辆数及每小时出入车次",
        "Cars parked per zone on {day} and vehicles in and out per hour",
    ),
    "report.zone": ("区域", "Zone"),
    "report.capacity": ("车位数", "Spaces"),
    "report.peak": ("最高在场", "Peak"),
    "report.peak_at": ("首次达到", "First reached"),
    "report.decisions": ("通行结果", "Decisions"),
    "report.passages": ("共 {n} 次通行", "{n} passages"),
    "report.count": ("次数", "Count"),
    "report.none": ("无", "None"),
    "report.reviews": ("人工处理结果", "How guards dealt with them"),
    "report.guards": ("保安人工操作", "Guards' actions by hand"),
    "report.audit_link": ("查看当天操作日志", "This day's audit log"),
    "report.month_title": ("月报表", "Monthly report"),
    "report.month": ("月份", "Month"),
    "report.month_before": ("‹ 上个月", "‹ Month before"),
    "report.month_after": ("下个月 ›", "Month after ›"),
    "report.month_view": ("月报表", "Month"),
    "report.day_view": ("日报表", "Day report"),
    "report.by_day": ("每日统计", "Day by day"),
    "report.hand": ("人工操作", "Done by hand"),
    "report.fullest": ("最满区域（最高/车位）", "Fullest zone (peak / spaces)"),
    "code.unresolved": ("未处理", "Not dealt with"),
    "nav.logout": ("退出登录", "Log out"),
    # 修改密码: any staff member changes their own password (api/console/own_password.py).
    "nav.password": ("修改密码", "Change password"),
    "password.current": ("当前密码", "Current password"),
    "password.save": ("保存新密码", "Save new password"),
    "password.note": (
        "保存后，这个账号在其他电脑、手机和接口上的登录马上全部退出；这台电脑保持登录",
        "Every other session and token of your account ends at once; this one stays logged in",
    ),
    "password.changed": (
        "密码已修改，其他地方的登录都已退出", "Password changed; your other sessions ended"
    ),
    "password.wrong": ("当前密码不对", "The current password is wrong"),
    "password.throttled": (
        "当前密码输错次数过多，请{wait}后再试",
        "Too many wrong current passwords: try again in {wait}",
    ),
    "nav.lang": ("English", "中文"),
    "role.guard": ("保安", "Guard"),
    "role.admin": ("管理员", "Admin"),
    "login.title": ("登录", "Log in"),
    "login.username": ("用户名", "Username"),
    "login.password": ("密码", "Password"),
    "login.submit": ("登录", "Log in"),
    "login.failed": ("用户名或密码错误", "Wrong username or password"),
    "login.stale": ("页面已过期，请重新输入并登录", "The page was stale: please log in again"),
    "login.throttled": (
        "登录失败次数过多，请{wait}后再试",
        "Too many failed logins: try again in {wait}",
    ),
    "login.expired": ("长时间未操作，已自动退出，请重新登录", "Logged out after inactivity"),
    "login.bye": ("已退出登录", "You are logged out"),
    "login.ended": ("登录已过期，请重新登录", "Your session has expired: please log in again"),
    "login.outage_refused": (
        "用户名或密码错误。数据库暂时不可用：恢复前只有中断前仍在启用的账号能登录，"
        "密码按中断前的核对。",
        "Wrong username or password. The database is unavailable: until it answers, only an "
        "account active before the outage can log in, with the password it had then.",
    ),
    "forbidden.title": ("无权访问", "Not allowed"),
    "forbidden.text": (
        "此页面仅限管理员使用。如需修改，请联系物业管理员。",
        "This page is for administrators. Ask the property office.",
    ),
    "forbidden.back": ("返回实时监控", "Back to the live view"),
    "not_found.title": ("页面不存在", "Page not found"),
    "not_found.text": (
        "这个地址没有页面，可能输错了，或是旧的书签。",
        "There is no page at this address: mistyped, or an old bookmark.",
    ),
    "bad_request.title": ("地址中的条件有误", "The address has a value that cannot be read"),
    "bad_request.text": (
        "页面地址里有一个条件无法识别（可能是手工改过或复制不全）。请回到页面重新选择。",
        "A condition in the page's address cannot be read (edited by hand or copied in part). "
        "Go back to the page and choose again.",
    ),
    "bad_request.item": ("“{field}” 的值 “{value}” 无效", "“{field}”: “{value}” is not valid"),
    "bad_request.back": ("回到此页面（不带条件）", "Back to this page (no conditions)"),
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
    "outage.console": (
        "道闸正在离线运行。开闸、关闸等操作照常可用：操作人和原因先保存在本机，数据库恢复后写入"
        "操作日志。待人工处理、访客登记和通行记录查询需要数据库；恢复后本页自动刷新。",
        "The gates run offline. Opening, closing and holding gates works as usual: who did it "
        "and why is kept on this machine and written to the audit log once the database is "
        "back. The review queue, visitor passes and passage history need the database; this "
        "page reloads itself when it is back.",
    ),
    "outage.actions_waiting": ("等待写入的操作日志", "Audit entries waiting to be written"),
    "review.needs_database": (
        "数据库暂时不可用，待人工处理和访客登记暂停。需要放行的车辆，请在上方道闸栏点“开闸”并填写原因。",
        "The database is unavailable: the review queue and visitor passes are paused. To let "
        "a car in, use Open on its gate above, with a reason.",
    ),
    "gates.journalled": (
        "操作记录已保存在本机，数据库恢复后写入操作日志",
        "recorded on this machine; written to the audit log when the database is back",
    ),
    "gates.title": ("道闸状态", "Gates"),
    "gates.open": ("开闸", "Open"),
    "gates.close": ("关闸", "Close"),
    "gates.hold_open": ("常开", "Hold open"),
    "gates.release": ("取消常开", "Release"),
    # 人工录入车牌 (api/routes/typed_plates.py): the car is decided as a camera read would be.
    "gates.typed_plate": ("录入车牌", "Type plate"),
    "gates.screen": ("显示屏", "Screen"),
    "gates.camera_down_face": (
        "人脸摄像头离线：请用密码、二维码或保安开闸",
        "Face camera offline: PIN, QR code or a guard's open",
    ),
    "gates.camera_down": (
        "摄像头离线：来车请用「录入车牌」",
        "Camera offline: use Type plate for arriving cars",
    ),
    "typed.title": ("{gate} · 录入车牌", "{gate} · Type plate"),
    "typed.plate": ("车牌", "Plate"),
    "typed.hint": (
        "按摄像头识别的规则判定：登记车辆确认后立即开闸，黑名单拒绝，"
        "其他车辆转人工处理。请核对车牌。",
        "Decided as a camera read: a registered car's barrier opens at once, a "
        "blocked plate is refused, other cars go to review. Check the plate.",
    ),
    "typed.p1": ("摄像头故障", "Camera fault"),
    "typed.p2": ("车牌未识别", "Plate not recognised"),
    "typed.plate_needed": ("请填写车牌，例如 闽A12345", "Type the plate, e.g. 闽A12345"),
    "typed.done_allow": ("{gate}：已放行 {plate}（{who}）", "{gate}: allowed {plate} ({who})"),
    "typed.done_review": (
        "{gate}：{plate} 已转人工处理（{who}）",
        "{gate}: {plate} sent to review ({who})",
    ),
    "typed.done_deny": ("{gate}：已拒绝 {plate}（{who}）", "{gate}: refused {plate} ({who})"),
    "typed.matched": (
        "按登记车牌 {plate} 判定，请核对",
        "taken for registered plate {plate}: check",
    ),
    "typed.repeat": (
        "{gate}：{plate} 刚刚已判定（{who}），本次未重复放行或计数",
        "{gate}: {plate} was decided moments ago ({who}); not opened or counted again",
    ),
    "reason.title": ("操作原因", "Reason"),
    "reason.other": ("其他（请填写）", "Other (type below)"),
    "reason.free": ("补充说明", "Details"),
    "reason.required": ("请选择或填写原因（至少2个字）", "Choose or type a reason (2+ characters)"),
    # Whole in a 360 px phone's review card select: "Visitor without pass, host confirmed"
    # was cut to "…host con" there (the longest choice now is p3).
    "reason.p1": ("访客无通行证，业主确认", "No pass, host confirmed"),
    "reason.p2": ("车牌无法识别", "Plate not readable"),
    "reason.p3": ("救护车/消防/警车", "Ambulance / fire / police"),
    "reason.p4": ("快递外卖临时进入", "Courier / delivery"),
    "reason.p5": ("设备故障处理", "Equipment fault"),
    "reason.p6": ("高峰时段疏导", "Rush-hour traffic"),
    "action.confirm": ("确认", "Confirm"),
    "action.cancel": ("取消", "Cancel"),
    "alarms.title": ("报警", "Alarms"),
    "alarms.none": ("当前无未处理报警", "No open alarms"),
    "alarms.more": (
        "另有 {n} 条更早的未处理报警没有列出：上面的确认处理后会依次显示。",
        "{n} older open alarms are not listed: they appear as you acknowledge these.",
    ),
    "alarms.ack": ("确认处理", "Acknowledge"),
    # Our acknowledgement came second (409): why is the API's refusal (err.alarm_taken).
    "alarms.taken_first": ("{alarm}：{why}", "{alarm}: {why}"),
    "alarms.ack_note": ("处理情况（可不填）", "What you found (optional)"),
    "alarms.ack_note_example": ("如：车主忘带卡，已核实", "e.g. owner forgot the card, checked"),
    "alarms.unstored": ("未保存", "Not yet stored"),
    "alarms.unstored_hint": (
        "数据库中断期间的报警，尚未写入数据库；写入后即可确认处理",
        "Raised during a database outage and not in the database yet: it can be "
        "acknowledged once it is written there",
    ),
    "alarms.database_down": (
        "数据库暂时不可用：中断后的报警显示为“未保存”，恢复后自动写入；之前的报警暂时无法刷新或确认。",
        "The database is unavailable: alarms raised since show as “Not yet stored” and are "
        "written there once it is back; earlier alarms cannot be refreshed or acknowledged "
        "until then.",
    ),
    "alarms.sound_on": ("提示音：开", "Sound: on"),
    "alarms.sound_off": ("提示音：关", "Sound: off"),
    "review.title": ("待人工处理", "Review queue"),
    "review.none": ("没有待处理车辆", "Nothing waiting"),
    "review.more": (
        "另有 {n} 辆后到的没有列出：上面的处理完后会依次显示。",
        "{n} more arrived later and are not listed: they show as those above are handled.",
    ),
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
    "passages.photo_keys": (
        "照片：↑ ↓ 换上一辆、下一辆车，回车放大，Esc 关闭",
        "Photos: ↑ ↓ for the car above or below, Enter to enlarge, Esc to close",
    ),
    "col.time": ("时间", "Time"),
    "col.gate": ("出入口", "Gate"),
    "col.snapshot": ("抓拍", "Photo"),
    # In a photo's place once retention or the low-space cleanup has deleted it (common.js),
    # and in an alarm's 抓拍 link's (fragments/alarms.html, alarm_history.html).
    "snapshot.gone": ("照片已删除", "Photo deleted"),
    "col.plate": ("车牌", "Plate"),
    "col.matched": ("匹配到的登记车牌", "Matched registered plate"),
    # How far a read was from the registered plate it matched (controllers/plate_match.py).
    "match.distance.1": ("相差 1：一个形近字符", "distance 1: one look-alike character"),
    "match.distance.2": ("相差 2：一个字符不同", "distance 2: one character differs"),
    "match.distance": ("相差 {n}", "distance {n}"),
    "lightbox.keys": (
        "← → 或 ↑ ↓ 换上一辆、下一辆车 · Esc 或点图关闭",
        "← → or ↑ ↓ for the car above or below · Esc or a click closes",
    ),
    "col.confidence": ("置信度", "Score"),
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
    "col.last_login": ("最近登录", "Last login"),
    "report.logins": (
        "控制台和接口登录 {ok} 次，登录失败 {failed} 次",
        "{ok} logins to the console and API, {failed} failed",
    ),
    "report.failed_logins_link": ("查看登录失败记录", "See the failed logins"),
    "users.never_logged_in": ("从未登录", "never"),
    "filter.all_gates": ("全部出入口", "All gates"),
    "filter.all_decisions": ("全部结果", "All decisions"),
    "filter.search": ("查询", "Search"),
    "filter.since": ("开始日期", "From"),
    "filter.until": ("结束日期（含）", "To (inclusive)"),
    "audit.export": ("导出CSV", "Export CSV"),
    "col.target": ("对象", "Target"),
    # A list's count above it (通行记录, 报警记录, 操作日志, 场内车辆): English says "1 entry";
    # the template picks audit.total.one for a count of 1.
    "audit.total": ("共 {n} 条", "{n} entries"),
    "audit.total.one": ("共 {n} 条", "{n} entry"),
    "audit.none_match": ("没有符合条件的操作记录", "No log entries match"),
    "users.create": ("新建用户", "New user"),
    "users.deactivate": ("停用", "Deactivate"),
    "users.activate": ("启用", "Activate"),
    "users.active": ("启用中", "Active"),
    "users.inactive": ("已停用", "Inactive"),
    "users.self": ("不能停用自己的账号", "You cannot deactivate yourself"),
    # In place of 停用 on the row of the account logged in.
    "users.you": ("当前登录的账号", "Your account"),
    # Asked before 停用: one misclick logged a guard on duty out at once.
    "users.confirm_deactivate": (
        "停用后 {name} 会立即退出登录，不能再登录。确定停用 {name}？",
        "{name} will be logged out at once and cannot log in again. Deactivate {name}?",
    ),
    "users.created": ("用户已创建", "User created"),
    # 重设密码: an admin sets another account's password (a guard who forgot theirs).
    "users.reset_password": ("重设密码", "Reset password"),
    "users.new_password": ("新密码", "New password"),
    "users.new_password_again": ("再输一遍", "Again"),
    "users.reset_save": ("保存新密码", "Save new password"),
    "users.reset_note": (
        "保存后这个账号原来的登录（控制台和接口）马上全部退出，要用新密码重新登录",
        "Every session and token of this account ends at once: it logs in with the new one",
    ),
    "users.password_reset": (
        "密码已重设，这个账号原来的登录都已退出", "Password reset; the account's sessions ended"
    ),
    "users.password_mismatch": ("两次输入的新密码不一样", "The two new passwords differ"),
    "users.self_password": (
        "不能在这里重设自己的密码，请另一位管理员来重设",
        "You cannot reset your own password here: ask another admin",
    ),
    "admin.create": ("添加", "Add"),
    "admin.delete": ("删除", "Delete"),
    "admin.confirm_delete": ("确定删除？", "Delete this?"),
    "hh.title": ("住户", "Households"),
    # The 住户与车辆 page's search and pages (api/console/household_search.py).
    "hh.find": ("查找住户", "Find a household"),
    "hh.find_hint": ("楼栋房号、姓名或车牌", "building and unit, a name or a plate"),
    "hh.find_button": ("查找", "Find"),
    "hh.find_clear": ("显示全部", "Show all"),
    "hh.count": ("共 {count} 户 · 第 {page}/{pages} 页",
                 "{count} households · page {page} of {pages}"),
    "hh.found": ("找到 {count} 户 · 第 {page}/{pages} 页",
                 "{count} households found · page {page} of {pages}"),
    "hh.found_none": ("没有找到与「{q}」有关的住户、成员或车辆",
                      "No household, resident or vehicle matches “{q}”"),
    "hh.prev": ("上一页", "Previous page"),
    "hh.next": ("下一页", "Next page"),
    "hh.building": ("楼栋", "Building"),
    "hh.unit": ("房号", "Unit"),
    "hh.spaces": ("车位数", "Spaces"),
    "hh.note": ("备注", "Note"),
    "res.title": ("住户成员", "Residents"),
    "res.name": ("姓名", "Name"),
    "res.phone": ("电话", "Phone"),
    "res.export": ("导出个人信息", "Export personal data"),
    "res.export_for": (
        "导出 {name} 的个人信息（JSON 文件）",
        "Export what is held about {name} (JSON file)",
    ),
    "veh.title": ("车辆", "Vehicles"),
    "veh.color": ("车牌颜色", "Plate colour"),
    # 批量导入 on 住户与车辆 (api/console/resident_import.py)
    "imp.link": ("批量导入（Excel/CSV）", "Bulk import (Excel/CSV)"),
    "imp.title": ("批量导入住户和车辆", "Import households and vehicles"),
    "imp.choose": ("选择文件", "Choose a file"),
    "imp.intro": (
        "用表格一次登记很多住户、成员和车辆。每行是一户的一位成员和/或一辆车，楼栋和房号相同的行"
        "归为同一户；已有的住户和同名成员不会重复添加。同一行既有姓名又有车牌时，这位成员就是这辆车"
        "的驾驶人。改过的总表可以再导入一次：已登记的住户的车位数、备注和成员的电话与表格不同时，"
        "以表格为准更新（预览里逐条列出）；表格里空着的格子不会清除系统里已有的内容；"
        "不在表格里的住户、成员和车辆不会被删除。",
        "Register many households, residents and cars at once. Each row is one resident and/or "
        "one car of a household; rows with the same building and unit are one household. "
        "Households and residents (same name) already on file are not added again. A row with "
        "a name and a plate makes that resident the car's driver. The master sheet can be "
        "imported again after changes: where it differs from what is on file for a household's "
        "spaces or note or a resident's phone, the sheet's value is taken (each change is "
        "listed in the preview); an empty cell never erases what is on file; households, "
        "residents and cars not in the sheet are not deleted.",
    ),
    "imp.columns": (
        "列：楼栋、房号（必填），姓名、电话、车牌、车牌颜色（蓝、黄、绿、白、黑，可空）、车位数"
        "（新住户默认 1）、备注。每行至少要有姓名或车牌。Excel 另存为「CSV UTF-8」"
        "或「CSV（逗号分隔）」都可以。",
        "Columns: 楼栋 and 房号 (required), 姓名, 电话, 车牌, 车牌颜色 (blue, yellow, green, "
        "white, black or empty), 车位数 (a new household's default is 1), 备注; "
        "English headers work too. Each row needs a name or a plate. Save from Excel as CSV.",
    ),
    "imp.all_or_nothing": (
        "有任何一行有问题时一行也不导入：请按问题表改好表格，再预览、导入。",
        "If any row has a problem, nothing is imported: correct the file, preview and import "
        "again.",
    ),
    "imp.template": ("下载模板（CSV）", "Download the template (CSV)"),
    "imp.file": (
        "文件（CSV，最大 {max_mb} MB、{max_rows} 行）",
        "File (CSV, at most {max_mb} MB, {max_rows} rows)",
    ),
    "imp.preview": ("预览", "Preview"),
    "imp.apply": ("导入", "Import"),
    "imp.preview_title": ("预览：{file}", "Preview: {file}"),
    "imp.done_title": ("已导入：{file}", "Imported: {file}"),
    "imp.rows": ("共 {rows} 行数据", "{rows} data rows"),
    "imp.col.create": ("将新建", "To create"),
    "imp.col.create_done": ("已新建", "Created"),
    "imp.col.update": ("将更新", "To update"),
    "imp.col.update_done": ("已更新", "Updated"),
    "imp.col.unchanged": ("已有，不变", "On file, unchanged"),
    "imp.changes": (
        "以下 {count} 处与系统中登记的不同，导入时以表格为准更新（表格里空着的格子不会清除系统里的"
        "内容）：",
        "{count} values differ from what is on file; importing takes the sheet's (an empty "
        "cell erases nothing):",
    ),
    "imp.changes_done": (
        "已按表格更新 {count} 处：",
        "{count} values updated from the sheet:",
    ),
    "imp.col.who": ("住户 / 成员", "Household / resident"),
    "imp.col.change": ("修改（原来 → 表格）", "Change (on file → sheet)"),
    "imp.empty": ("（空）", "(empty)"),
    "imp.not_in_file": (
        "系统中有 {count} 户不在表格中（未删除，保持原样）",
        "{count} households on file are not in the sheet (not deleted, left as they are)",
    ),
    "imp.col.row": ("行号", "Row"),
    "imp.col.content": ("内容", "Content"),
    "imp.col.problem": ("问题", "Problem"),
    "imp.errors": (
        "{count} 行有问题，什么都没有导入。请改好表格后重新预览。",
        "{count} rows have problems; nothing was imported. Correct the file and preview "
        "again.",
    ),
    "imp.ready": (
        "没有发现问题。点「导入」一次全部导入。",
        "No problems found. Import adds all of it at once.",
    ),
    "imp.done_nothing": (
        "文件里的住户、成员和车辆都已登记，内容也相同：没有任何改动，也不记入操作日志。",
        "Everything in the file is on file already, as it is in the file: nothing changed, "
        "and nothing was written to the audit log.",
    ),
    "imp.done": (
        "导入完成：新建住户 {households} 户、成员 {residents} 人、车辆 {vehicles} 辆；更新住户 "
        "{households_updated} 户、成员 {residents_updated} 人。新登记的车牌道闸立即放行。",
        "Imported: {households} households, {residents} residents and {vehicles} vehicles "
        "created; {households_updated} households and {residents_updated} residents updated. "
        "The gates admit the new plates at once.",
    ),
    "imp.ignored": (
        "这些列不认识，没有导入：{columns}",
        "These columns were not recognised and are not imported: {columns}",
    ),
    "imp.header_row": (
        "表头在第 {row} 行，它上面的行（标题等）没有导入",
        "The header is row {row}; the rows above it (a title) are not imported",
    ),
    "imp.colour_without_plate": (
        "{rows} 行填了车牌颜色但没有车牌，颜色没有导入（第 {first} 行起）",
        "{rows} rows give a plate colour but no plate; the colour is not imported (from row "
        "{first})",
    ),
    "imp.no_file": ("请先选择文件", "Choose a file first"),
    "imp.expired": (
        "预览已过期或已导入，请重新选择文件预览",
        "The preview expired or was imported already: choose the file and preview again",
    ),
    "pass.from": ("开始时间", "Valid from"),
    "pass.to": ("结束时间", "Valid to"),
    "pass.max_uses": ("可用次数（空为不限）", "Uses (empty: unlimited)"),
    "pass.note_hint": ("如：快递员 王师傅、装修工人", "e.g. courier Wang, decorators"),
    # The host's phones under the pass form (admin.js): masked for a guard, each whole by an
    # audited reveal (api/routes/resident_phone.py).
    "host.title": ("被访住户的电话", "The host's phone"),
    "host.choose": ("选好「住户」后，这里列出这户的住户成员和电话，先打电话核实访客。",
                    "Choose the household above: its residents and phones are listed here, "
                    "to call about the visitor."),
    "host.none": ("这户没有登记住户成员。", "No residents on file for this household."),
    "host.no_phone": ("未登记电话", "No phone on file"),
    "host.reveal": ("显示号码", "Show number"),
    "host.reveal_label": ("显示{name}的完整号码（记入操作日志）",
                          "Show {name}'s whole number (written to the audit log)"),
    "host.call": ("拨打", "Call"),
    "host.call_label": ("拨打{name}的电话 {phone}", "Call {name} on {phone}"),
    "host.masked_note": ("号码只显示前 3 位和后 4 位。点「显示号码」看完整号码并拨打；"
                         "每次查看都记在操作日志里（谁、哪位住户、什么时候）。",
                         "Numbers show their first 3 and last 4 digits. Show number gives the "
                         "whole number to call; each is written to the audit log (who, whose, "
                         "when)."),
    "pass.uses": ("已用", "Used"),
    "pass.created": ("已添加访客通行证 #{id}：{plate}", "Visitor pass #{id} added: {plate}"),
    "pass.created_walk_in": (
        "已添加步行访客通行证 #{id}：点「二维码」发给访客",
        "Walk-in pass #{id} added: send the visitor its QR code",
    ),
    # A walk-in pass (步行访客): no plate, its QR code at a pedestrian gate only.
    "pass.walk_in": ("步行访客（无车牌）", "Visitor on foot (no plate)"),
    "pass.walk_in_plate": ("步行", "On foot"),
    "pass.walk_in_note": (
        "步行访客只能在人行门扫二维码进入，车辆入口不会为它抬杆",
        "A visitor on foot gets in only by the QR code at a pedestrian gate; "
        "no vehicle gate opens for the pass",
    ),
    "list.kind": ("类型", "Kind"),
    "list.allow": ("白名单", "Allow list"),
    "list.block": ("黑名单", "Block list"),
    "list.added": ("加入时间", "Added"),
    "field.household": ("住户", "Household"),
    "field.none": ("（无）", "(none)"),
    # admin — texts of the admin pages (api/console/admin.py, error_texts.py, admin.js)
    "admin.choose": ("请选择", "Choose…"),
    "admin.search_household": ("搜索楼栋/房号", "Search building/unit"),
    "admin.confirm.household": ("删除住户 #{id} {label}？", "Delete household #{id} {label}?"),
    # Deleting a resident deletes their face templates and PIN too (PIPL): say so, with the
    # count, before the manager confirms; nothing brings them back.
    "admin.confirm.resident": (
        "删除住户成员 #{id} {name}？其人脸数据（{faces} 条）和通行密码将一并删除，无法恢复。",
        "Delete resident #{id} {name}? Their face data ({faces} "
        "templates) and PIN are deleted with them, for good.",
    ),
    "admin.confirm.vehicle": ("删除车辆 #{id} {plate}？", "Delete vehicle #{id} {plate}?"),
    # 搬离 (api/console/household_move_out.py): the whole family in one step.
    "mo.link": ("搬离", "Move out"),
    "mo.link_for": ("{label} 整户搬离", "{label} moves out"),
    "mo.title": ("整户搬离", "Household moves out"),
    "mo.intro": (
        "住户 #{id} {label}（车位数 {spaces}）搬离：下面列出的内容将一起删除，无法恢复。",
        "Household #{id} {label} (spaces: {spaces}) moves out: everything listed below is "
        "deleted with it, for good.",
    ),
    "mo.heading": ("{title}（{n}）", "{title} ({n})"),
    "mo.none": ("无", "None"),
    "mo.residents_note": (
        "成员的人脸数据和通行密码一并删除（个人信息保护法），人行门马上不认。需要的话，先给居民"
        "「导出个人信息」，删除后就导不出了。",
        "Their face data and PINs are deleted with them (PIPL); the pedestrian gates stop "
        "knowing them at once. Export a resident's personal data first if they want it: it "
        "cannot be exported afterwards.",
    ),
    "mo.where": ("现在", "Now"),
    "mo.inside": ("在场内", "Inside"),
    "mo.outside": ("不在场内", "Not inside"),
    "mo.inside_note": (
        "在场内的车出场照常放行，之后再进场就不再自动放行。",
        "A car inside leaves as usual; it is no longer let in on its own afterwards.",
    ),
    # The flat's configured spaces (services/assigned_spaces.py): the console cannot change
    # the configuration, so it says which line to change and when.
    "mo.spaces": ("固定车位", "Assigned spaces"),
    "mo.spaces_note": (
        "配置文件里分给这户或其成员的固定车位，搬离后仍然留着，不会推荐给别人。新住户登记后，"
        "把下面每个车位的 assigned_to 改成新住户的编号（household:新编号；新编号不会和原来的"
        "一样），然后重启控制器；车位已卖掉或租约到期的，删掉 assigned_to。",
        "Spaces the configuration assigns to this household or its residents stay reserved "
        "after the move-out: nobody else is sent to them. Once the flat's next household is "
        "registered, change each one's assigned_to to its new id (household:<new id>; ids "
        "are never reused) and restart the controller; remove assigned_to if the space was "
        "sold or its lease ended.",
    ),
    "mo.space": ("车位", "Space"),
    "mo.zone": ("区域", "Zone"),
    "mo.assigned_to": ("配置里写的", "Configured as"),
    "mo.configured_in": ("在哪里改", "Where to change it"),
    "mo.list": ("名单", "List"),
    "mo.list_reason": ("原因", "Reason"),
    "mo.list_action": ("处理", "What happens"),
    "mo.will_remove": ("一并删除", "Removed too"),
    "mo.removed": ("已删除", "Removed"),
    "mo.kept": ("保留", "Kept"),
    "mo.remove_block": ("勾选则一并删除，不勾选保留", "Tick to remove too; kept otherwise"),
    "mo.block_note": (
        "黑名单默认保留（保安加入黑名单是有原因的）；确认这辆车不再需要拦下时才勾选。",
        "Block-list entries are kept unless ticked: a guard put them there for a reason. "
        "Tick one only when the car no longer needs stopping.",
    ),
    "mo.final": (
        "确认后一次删除以上内容和这户本身，全部成功或全部不删。",
        "Confirming deletes all of the above and the household in one step: all of it, "
        "or nothing.",
    ),
    "mo.confirm": ("确认搬离 {label}", "Confirm: {label} moves out"),
    "mo.cancel": ("取消", "Cancel"),
    "mo.done": (
        "{label} 已搬离：删除了成员 {residents} 人、车辆 {vehicles} 辆、访客通行证 {passes} 张"
        "和这户。",
        "{label} has moved out: the household and its residents ({residents}), vehicles "
        "({vehicles}) and visitor passes ({passes}) deleted.",
    ),
    # When its plates were on the allow list: those entries went too, as the page listed.
    "mo.done_allow": (
        "{label} 已搬离：删除了成员 {residents} 人、车辆 {vehicles} 辆、访客通行证 {passes} 张、"
        "白名单 {allow} 条和这户。",
        "{label} has moved out: the household and its residents ({residents}), vehicles "
        "({vehicles}), visitor passes ({passes}) and allow-list entries ({allow}) deleted.",
    ),
    # The block-list entries the office ticked to delete (the others stay, as the table says).
    "mo.done_blocks": (
        "黑名单删除了 {count} 条（没勾选的保留）。",
        "Block-list entries deleted: {count} (those not ticked are kept).",
    ),
    "mo.changed": (
        "这户的信息刚被修改过（有人添加或删除了成员、人脸、密码、车辆、通行证或名单），什么都"
        "没有删除。请核对下面最新的内容后再确认。",
        "The household changed meanwhile (a resident, face, PIN, car, pass or list entry was "
        "added or removed): nothing was deleted. Check the list below as it is now and "
        "confirm again.",
    ),
    "mo.not_theirs": (
        "勾选的黑名单条目 {ids} 不是这户车牌的条目，什么都没有删除。请在下面的列表中勾选后再确认。",
        "Ticked but not on this household's block list: {ids}. Nothing was deleted; tick "
        "among the entries listed below and confirm again.",
    ),
    "mo.gone": (
        "住户 #{id} 不存在（可能已经搬离）。",
        "Household #{id} does not exist (moved out already?).",
    ),
    "admin.confirm.pass": ("删除通行证 #{id} {plate}？", "Delete visitor pass #{id} {plate}?"),
    "admin.confirm.list": ("从{kind}删除 #{id} {plate}？", "Delete {kind} entry #{id} {plate}?"),
    "admin.admin_only": ("删除仅限管理员", "Only administrators delete"),
    # site — zone counts and the fire-alarm hold (api/console/admin_site.py)
    "site.zones": ("修正车位计数", "Correct zone counts"),
    "site.zones_intro": (
        "摄像机漏读、跟车进出会让计数慢慢不准。人工数过之后，在这里填实际停放的车辆数。",
        "Missed reads and tailgating make counts drift. After counting the "
        "cars on site, enter the real number here.",
    ),
    "site.zone": ("区域", "Zone"),
    "site.capacity": ("车位数", "Spaces"),
    "site.occupied": ("已停", "Occupied"),
    "site.free": ("空位", "Free"),
    "site.correct": ("修正", "Correct"),
    "site.correct_for": ("修正 {zone} 的计数", "Correct the count of {zone}"),
    "site.counted": ("实际停放", "Cars counted"),
    "site.reason_hint": ("如：晚上十点人工盘点", "e.g. 22:00 walk-round count"),
    "site.corrected": ("{zone} 已改为停放 {occupied} 辆", "{zone} now counts {occupied} cars"),
    "site.fire": ("火警联动", "Fire alarm"),
    "site.no_safety": ("本系统没有配置火警联动。", "No fire-alarm supervisor is configured."),
    "site.fire_active": (
        "火警联动中：所有道闸抬起并保持，直到管理员解除。",
        "Fire alarm: every gate is open and held until an admin clears it.",
    ),
    "site.fire_none": ("当前没有火警。", "No fire alarm is active."),
    "site.gate_state": ("状态", "State"),
    "site.clear": ("解除火警", "Clear the fire alarm"),
    "site.clear_hint": ("如：演练结束，消防柜已复位", "e.g. drill over, panel reset"),
    "site.clear_rule": (
        "先确认现场安全、消防控制柜的火警信号已复位；信号还在时不能解除。",
        "Check the site is safe and the fire panel is reset first; it cannot "
        "be cleared while the panel's signal is still on.",
    ),
    "site.confirm_clear": (
        "解除火警？所有道闸恢复正常并自动落杆。",
        "Clear the fire alarm? Every gate returns to normal and closes.",
    ),
    "site.cleared": ("火警已解除", "Fire alarm cleared"),
    "site.trigger": ("触发火警联动（演练）", "Trigger the fire alarm (drill)"),
    "site.trigger_hint": ("如：消防演练", "e.g. fire drill"),
    "site.confirm_trigger": (
        "触发火警联动？所有道闸将抬起并保持，直到管理员解除。",
        "Trigger the fire alarm? Every gate opens and stays open until an admin clears it.",
    ),
    "site.triggered": (
        "火警联动已触发：所有道闸抬起并保持",
        "Fire alarm on: every gate is held open",
    ),
    "site.live_connecting": ("正在连接实时更新…", "Connecting to live updates…"),
    "site.live_on": (
        "实时更新：火警、道闸状态和车位计数变化时自动显示，无需刷新",
        "Live: the fire alarm, gate states and counts update without a reload",
    ),
    # qr — a visitor pass's QR code page (api/console/pass_qr.py)
    "qr.column": ("二维码", "QR code"),
    "qr.show": ("二维码", "QR code"),
    "qr.title": ("访客二维码", "Visitor QR code"),
    "qr.back": ("← 返回访客通行证", "← Back to visitor passes"),
    "qr.print": ("打印", "Print"),
    "qr.howto": (
        "访客在人行门的扫码器上出示这个二维码即可进门（在有效时间内、次数用完前）。"
        "可以打印，或让访客用手机拍下；不要发到群里，拿到的人都能用。",
        "The visitor shows this code to the scanner at a pedestrian gate (within "
        "the pass's times and uses). Print it or let the visitor photograph it; do "
        "not post it in a group chat: anyone holding it can use it.",
    ),
    "qr.unusable": (
        "这张通行证{status}，二维码已不能开门。",
        "This pass is {status}: the code no longer opens a gate.",
    ),
    "qr.missing": (
        "通行证 #{id} 不存在（可能已删除）。",
        "Visitor pass #{id} does not exist (deleted?).",
    ),
    "faces.intro": (
        "居民本人签字同意后才能录入人脸（个人信息保护法）；"
        "不愿刷脸的居民用通行密码或由保安开门。"
        "系统只保存人脸特征值，不保存照片。",
        "Faces are enrolled only after the resident's own signed consent (PIPL); "
        "residents who decline use a PIN or the guard. Only face templates are "
        "stored, never the photos.",
    ),
    "faces.disabled": (
        "本系统未启用人脸识别：这里只能设置通行密码。",
        "Face recognition is not enabled here: only PINs can be set.",
    ),
    "faces.search": ("查找", "Find"),
    "faces.search_hint": ("姓名、楼栋或房号", "Name, building or unit"),
    "faces.more": (
        "只显示前 {n} 位，请输入姓名或房号缩小范围。",
        "Only the first {n} are shown: search by name or unit.",
    ),
    "faces.none": ("没有找到住户成员。", "No resident found."),
    "faces.consent": ("人脸授权", "Face consent"),
    "faces.templates": ("人脸数据", "Face data"),
    "faces.pin": ("通行密码", "PIN"),
    "faces.consented": ("已授权", "Consented"),
    "faces.no_consent": ("未授权", "No consent"),
    "faces.count": ("{n} 条", "{n}"),
    "faces.pin_set": ("已设置", "Set"),
    "faces.pin_none": ("未设置", "None"),
    "faces.manage": ("管理", "Manage"),
    "faces.manage_for": ("管理 {name} 的人脸和通行密码", "Face and PIN of {name}"),
    "faces.consent_note": ("授权书编号/存放处", "Consent form number / where kept"),
    "faces.consent_note_hint": ("如：授权书 2026-001，档案柜A", "e.g. form 2026-001, cabinet A"),
    "faces.record_consent": ("记录授权", "Record consent"),
    "faces.consent_rule": (
        "先收好居民签字的人脸授权书，再点「记录授权」。",
        "Keep the resident's signed consent form first, then record it.",
    ),
    "faces.consent_done": ("已记录 {name} 的人脸授权", "Consent of {name} recorded"),
    "faces.photos": ("照片", "Photos"),
    "faces.enrol": ("录入人脸", "Enrol"),
    "faces.enrolling": ("正在识别照片，请稍候…", "Reading the photos, please wait…"),
    "faces.photo_rule": (
        "可选多张；每张只能有这一个人的正脸，"
        "清楚、光线好（JPEG 或 PNG）。有一张不合格就一张都不保存。",
        "Several allowed; each must show only this person's face, frontal, "
        "sharp and well lit (JPEG or PNG). If one is unusable none is kept.",
    ),
    "faces.enrol_done": (
        "已录入 {name} 的人脸，现共 {templates} 条",
        "{name} enrolled: {templates} templates now",
    ),
    "faces.enrol_already": (
        "这些照片 {name} 已经录过，没有重复保存，现共 {templates} 条",
        "{name} has these photos on file already: nothing stored twice, {templates} templates",
    ),
    "faces.delete": ("删除人脸数据", "Delete face data"),
    "faces.confirm_delete": (
        "删除住户成员 #{id} {name} 的全部人脸数据（{n} 条）？删除后无法恢复，授权保留。",
        "Delete all face data ({n} templates) of resident #{id} {name}? "
        "This cannot be undone; the consent stays.",
    ),
    "faces.deleted": ("已删除 {name} 的人脸数据", "Face data of {name} deleted"),
    "faces.delete_snapshots": ("删除人行门抓拍（{n} 张）", "Delete gate photos ({n})"),
    "faces.confirm_delete_snapshots": (
        "删除住户成员 #{id} {name} 在人行门刷脸、输密码时被拍下的全部抓拍（{n} 张）？"
        "删除后无法恢复，通行记录保留。",
        "Delete all {n} photos the pedestrian gate took of resident #{id} {name}? "
        "This cannot be undone; the passages stay.",
    ),
    "faces.snapshots_deleted": (
        "已删除 {name} 的 {deleted} 张人行门抓拍",
        "{deleted} gate photos of {name} deleted",
    ),
    "faces.snapshots_deleted_kept": (
        "已删除 {name} 的 {deleted} 张人行门抓拍；另有 {kept} 张保安还要用"
        "（待人工处理或报警未处理），处理完再点一次",
        "{deleted} gate photos of {name} deleted; {kept} kept because a guard still needs them "
        "(review or alarm open): click again once dealt with",
    ),
    "faces.snapshots_rule": (
        "居民要求删除人脸时一并删除。待人工处理、报警未处理的那几张先保留，处理完再点一次。",
        "For a resident who asks for their face data to go. Photos a guard still needs "
        "(waiting for review, alarm not acknowledged) are kept: click again once dealt with.",
    ),
    "faces.withdraw": ("撤回授权", "Withdraw consent"),
    "faces.confirm_withdraw": (
        "撤回住户成员 #{id} {name} 的人脸授权？其全部人脸数据（{n} 条）将立即删除，无法恢复。",
        "Withdraw the face consent of resident #{id} {name}? All their "
        "face data ({n} templates) is deleted at once, for good.",
    ),
    "faces.withdrawn": (
        "已撤回 {name} 的人脸授权并删除人脸数据",
        "Consent of {name} withdrawn, face data deleted",
    ),
    "faces.new_pin": ("新通行密码", "New PIN"),
    "faces.set_pin": ("设置通行密码", "Set PIN"),
    "faces.pin_rule": (
        "4 到 8 位数字，不能全是同一个数字或顺序数字（如 1234）。设置新密码后旧密码立即失效。",
        "4 to 8 digits, not all one digit or a run such as 1234. A new PIN "
        "replaces the old one at once.",
    ),
    "faces.pin_done": ("已设置 {name} 的通行密码", "PIN of {name} set"),
    "faces.clear_pin": ("清除通行密码", "Clear PIN"),
    "faces.confirm_clear_pin": (
        "清除住户成员 #{id} {name} 的通行密码？清除后该密码不能再开门。",
        "Clear the PIN of resident #{id} {name}? It no longer opens any gate.",
    ),
    "faces.pin_cleared": ("已清除 {name} 的通行密码", "PIN of {name} cleared"),
    "field.resident": ("住户成员", "Resident"),
    "field.pass": ("通行证", "Visitor pass"),
    "field.list_entry": ("名单记录", "List entry"),
    "field.max_uses": ("可用次数", "Uses allowed"),
    "pass.status": ("状态", "Status"),
    "pass.status.valid": ("有效", "Valid now"),
    "pass.status.not_yet": ("未生效", "Not yet valid"),
    "pass.status.expired": ("已过期", "Expired"),
    "pass.status.used_up": ("次数已用完", "Used up"),
    "pass.times": (
        "时间均为{zone}（UTC{offset}），最长366天",
        "Times are {zone} (UTC{offset}); 366 days at most",
    ),
    # A recurring pass's weekdays and daily hours (api/console/pass_schedule.py, the form).
    "pass.schedule": ("通行日与时段", "Days and hours"),
    "pass.weekdays": ("通行日", "Days"),
    "pass.hours_from": ("时段 从", "Hours from"),
    "pass.hours_to": ("至", "to"),
    "pass.schedule_note": (
        "默认每天全天；保洁、保姆等定期来访可只勾选几天并填写时段（如 08:00 至 12:00，"
        "到 12:00 为止）。结束早于开始即跨过午夜（22:00 至 02:00）",
        "Every day, all day unless set: a cleaner or a nanny may come on some days at some "
        "hours (08:00 to 12:00, until 12:00). An end before the start runs past midnight "
        "(22:00 to 02:00)",
    ),
    "pass.any_time": ("不限", "Any day, any time"),
    "pass.every_day": ("每天", "Every day"),
    "pass.all_day": ("全天", "all day"),
    "pass.day_range": ("{first}至{last}", "{first}–{last}"),
    "pass.day_sep": ("、", ", "),
    "pass.next_day": ("次日", "next day "),
    "weekday.mon": ("周一", "Mon"),
    "weekday.tue": ("周二", "Tue"),
    "weekday.wed": ("周三", "Wed"),
    "weekday.thu": ("周四", "Thu"),
    "weekday.fri": ("周五", "Fri"),
    "weekday.sat": ("周六", "Sat"),
    "weekday.sun": ("周日", "Sun"),
    "audit.detail.weekdays": ("通行日", "Days"),
    "audit.detail.hours_from": ("时段 从", "Hours from"),
    "audit.detail.hours_to": ("时段 至", "Hours to"),
    "audit.detail.walk_in": ("步行访客", "Visitor on foot"),
    # How the console names the community's time zone (community.timezone).
    "tz.beijing": ("北京时间", "Beijing time"),
    "tz.other": ("当地时间 {name}", "local time {name}"),
    "tz.offset": ("当地时间（{offset}）", "local time ({offset})"),
    "color.blue": ("蓝", "Blue"),
    "color.yellow": ("黄", "Yellow"),
    "color.green": ("绿", "Green"),
    "color.white": ("白", "White"),
    "color.black": ("黑", "Black"),
    "color.unknown": ("未知", "Unknown"),
    # The plate families a guard is shown beside the plate (passage rows, review cards): a
    # trailer or a large vehicle's rear plate; the other families need no word there, only in
    # 通行记录's plate-kind filter (every PlateKind has a label).
    "plate_kind.trailer": ("挂车", "Trailer"),
    "plate_kind.double_row": ("双层黄牌", "Double-row yellow plate"),
    "plate_kind.ordinary": ("普通", "Ordinary"),
    "plate_kind.new_energy_small": ("新能源小型车", "New energy, small car"),
    "plate_kind.new_energy_large": ("新能源大型车", "New energy, large vehicle"),
    "plate_kind.coach": ("教练车", "Driving-school car"),
    "plate_kind.police": ("警车", "Police"),
    "plate_kind.hong_kong": ("香港入出境", "Hong Kong cross-border"),
    "plate_kind.macau": ("澳门入出境", "Macau cross-border"),
    "plate_kind.embassy": ("使馆", "Embassy"),
    "plate_kind.consulate": ("领馆", "Consulate"),
    "alarm.plate": ("车牌 {plate}", "Plate {plate}"),
    "alarm.offline": ("（离线判定）", "(decided offline)"),
    "alarm.snapshot": ("抓拍", "Snapshot"),
    "alarm.hint.blocked_plate": ("请核实并拦截", "Check the vehicle and stop it"),
    "alarm.hint.journal_entry_set_aside": (
        "已另存到磁盘，请管理员处理",
        "Kept aside on disk: an administrator must look",
    ),
    "alarm.hint.audit_entry_set_aside": (
        "已另存到磁盘，请管理员处理",
        "Kept aside on disk: an administrator must look",
    ),
    "alarm.hint.login_guessing": (
        "可能有人在猜密码，该地址已暂停登录，请通知管理员",
        "Someone may be guessing passwords: tell an administrator",
    ),
    "alarm.hint.anti_passback": ("无出场记录再次入场", "Entered again without leaving"),
    "alarm.hint.hardware_fault": (
        "道闸未按指令动作，请检查设备",
        "The barrier did not obey: check the device",
    ),
    "alarm.hint.barrier_manual_open": (
        "系统没有开闸，杆被遥控器、钥匙开关或手动抬起：请看监控，有车进出的核对通行记录和车位数",
        "Raised by a remote, key switch or hand, not by the system: check the camera; if a car "
        "went through, check its record and the zone count",
    ),
    "alarm.hint.tailgating": (
        "一次抬杆过了两辆车：请看监控，后车没有经过放行、没有计入车位数；在「待人工处理」里的"
        "照常处理，没有记录的记下车牌交物业修正车位计数",
        "Two vehicles went through on one opening: check the camera. The second is not "
        "recorded or counted: handle it in the review queue if it is there, otherwise note "
        "its plate for the zone count correction",
    ),
    "alarm.hint.tailgating.pedestrian": (
        "一次开门过了两个人：后一人没有经过人脸、密码或访客码核验，请看监控，核实是不是本小区住户或已登记访客",
        "Two people went through on one opening: the second was not checked by face, PIN or "
        "visitor code. Check the camera and whether they are a resident or a registered "
        "visitor",
    ),
    "alarm.hint.camera_offline": (
        "车牌摄像头无画面：来车请用道闸卡片上的「录入车牌」，并检查摄像头和网线",
        "No picture from the plate camera: use Type plate on the "
        "gate's card for each car, and check the camera and its cable",
    ),
    "alarm.hint.camera_offline.face": (
        "人脸门禁摄像头无画面：住户请用密码或访客二维码，或由保安核实后在卡片上「开闸」，"
        "并检查设备和网线",
        "No picture from the face terminal: residents use their PIN or a visitor QR code, or a "
        "guard checks them and opens from the gate's card; check the device and its cable",
    ),
    "alarm.hint.overstay": (
        "访客通行证已到期，车辆仍在场内",
        "The visitor pass has ended; the car is still inside",
    ),
    "alarm.hint.occupancy_over_capacity": (
        "车位计数超过容量，请核对",
        "Count is over capacity: check the zone",
    ),
    "alarm.hint.occupancy_below_zero": (
        "车位计数低于零，请核对",
        "Count went below zero: check the zone",
    ),
    "alarm.hint.pin_locked": ("密码多次输错，已锁定", "Too many wrong PINs: locked"),
    "alarm.hint.liveness_failed": (
        "活体检测未通过，可能是照片或视频",
        "Liveness failed: possibly a photo or video",
    ),
    "alarm.hint.database_outage": (
        "数据库中断期间的通行记录已补写",
        "Passages decided while it was down are now recorded",
    ),
    "alarm.hint.disk_low": (
        "控制器磁盘空间不足：最早的抓拍已删除，新抓拍暂不保存，通行记录照常，请通知管理员清理",
        "The controller's disk is low: the oldest snapshots were deleted "
        "and new ones are not kept; passages are still recorded. Tell an "
        "administrator",
    ),
    "alarm.hint.disk_full": (
        "控制器磁盘已满：已启用预留空间记录通行，请立即通知管理员清理",
        "The controller's disk is full: passages are recorded in its "
        "reserved space. Tell an administrator now",
    ),
    "alarm.hint.clock_behind": (
        "控制器系统时间比已记录的最新时间早（断电后时钟复位、连不上校时服务器）：通行记录暂按上次"
        "可信时间续记，访客通行证按此时间判定。请通知管理员校准时间（NTP 或主板时钟电池）",
        "The controller's system clock reads earlier than times already recorded (reset by a "
        "power cut, no time server): passages are stamped from the last time known to be "
        "right and visitor passes judged by it. Tell an administrator to set the clock (NTP, "
        "or the board's clock battery)",
    ),
    "alarm.hint.clock_ahead": (
        "控制器系统时间比它记过的最新时间晚了一个月以上：可能是断电很久，也可能是时钟出错（主板时钟"
        "电池没电、校时服务器不对）。为防止误删，通行记录的保存期限处理暂停一天。时间不对请通知管理员当天校准",
        "The controller's system clock reads over a month past the latest time it recorded: it "
        "was off that long, or the clock is wrong (a dead clock battery, a wrong time server). "
        "Retention is paused for a day so nothing is removed by mistake. If the time is wrong, "
        "tell an administrator to set it today",
    ),
    "alarm.hint.fire_alarm": ("消防联动：道闸保持开启", "Fire alarm: barriers held open"),
    "alarm.hint.fire_alarm_cleared": ("火警已解除", "Fire alarm cleared"),
    "alarm.stored": ("原始信息：{message}", "Stored message: {message}"),
    "code.fire_alarm_cleared": ("火警解除", "Fire alarm cleared"),
    "code.refused": ("被拒绝", "Refused"),
    "filter.all_actions": ("全部操作", "All actions"),
    "audit.group_all": ("{group}（全部）", "{group} (all)"),
    "audit.group.gate": ("道闸", "Gates"),
    "audit.group.passage": ("人工处理", "Reviews"),
    "audit.group.alarm": ("报警", "Alarms"),
    "audit.group.user": ("用户", "Users"),
    "audit.group.household": ("住户", "Households"),
    "audit.group.resident": ("住户成员", "Residents"),
    "audit.group.vehicle": ("车辆", "Vehicles"),
    "audit.group.pass": ("访客通行证", "Visitor passes"),
    "audit.group.list": ("黑白名单", "Plate lists"),
    "audit.group.face": ("人脸", "Faces"),
    "audit.group.zone": ("车位计数", "Zone counts"),
    "audit.group.safety": ("火警联动", "Fire alarm"),
    "audit.group.guidance": ("车位引导", "Guidance"),
    "audit.group.auth": ("登录", "Logins"),
    "audit.action.gate.open": ("开闸", "Open gate"),
    "audit.action.gate.close": ("关闸", "Close gate"),
    "audit.action.gate.hold_open": ("常开", "Hold gate open"),
    "audit.action.gate.release": ("取消常开", "Release gate"),
    "audit.action.gate.typed_plate": ("录入车牌", "Typed plate"),
    "audit.action.passage.resolve": ("人工处理车辆", "Resolve review"),
    "audit.action.alarm.ack": ("确认报警", "Acknowledge alarm"),
    "audit.action.user.create": ("新建用户", "Create user"),
    "audit.action.user.activate": ("启用用户", "Activate user"),
    "audit.action.user.deactivate": ("停用用户", "Deactivate user"),
    "audit.action.user.role_change": ("更改角色", "Change role"),
    "audit.action.user.password_reset": ("重设密码", "Reset password"),
    "audit.action.user.password_change": ("修改自己的密码", "Change own password"),
    "audit.action.household.create": ("添加住户", "Add household"),
    "audit.action.household.update": ("修改住户", "Change household"),
    "audit.action.household.delete": ("删除住户", "Delete household"),
    "audit.action.household.import": ("批量导入住户和车辆", "Import households and vehicles"),
    "audit.action.household.move_out": ("整户搬离", "Household moved out"),
    "audit.detail.faces": ("人脸数据", "Face templates"),
    "audit.detail.pins": ("通行密码", "PINs"),
    "audit.detail.vehicles_inside": ("当时在场内的车", "Cars inside then"),
    "audit.detail.passes": ("访客通行证", "Visitor passes"),
    "audit.detail.allow_entries": ("白名单", "Allow-list entries"),
    "audit.detail.block_entries": ("黑名单", "Block-list entries"),
    "audit.detail.move_out_audit_id": ("搬离记录", "Move-out entry"),
    "audit.detail.file": ("文件", "File"),
    "audit.detail.sha256": ("文件校验值", "File SHA-256"),
    "audit.detail.rows": ("行数", "Rows"),
    "audit.detail.households": ("住户", "Households"),
    "audit.detail.residents": ("住户成员", "Residents"),
    "audit.detail.vehicles": ("车辆", "Vehicles"),
    # 批量导入's counts per kind, as its page words them (将新建 / 将更新 / 已有，不变).
    "audit.import_counts": ("新建 {create}、更新 {update}、不变 {unchanged}",
                            "{create} new, {update} updated, {unchanged} unchanged"),
    "audit.import_counts.vehicles": ("新建 {create}、已有 {existing}",
                                     "{create} new, {existing} on file"),
    "audit.detail.import_audit_id": ("批量导入记录", "Bulk import entry"),
    "audit.action.resident.create": ("添加住户成员", "Add resident"),
    "audit.action.resident.update": ("修改住户成员", "Change resident"),
    "audit.action.resident.delete": ("删除住户成员", "Delete resident"),
    "audit.action.resident.pin_set": ("设置通行密码", "Set PIN"),
    "audit.action.resident.pin_cleared": ("清除通行密码", "Cleared PIN"),
    "audit.action.resident.data_export": ("导出个人信息", "Export personal data"),
    "audit.action.resident.phone_reveal": ("查看住户完整号码", "Reveal resident's phone"),
    "audit.action.vehicle.create": ("添加车辆", "Add vehicle"),
    "audit.action.vehicle.update": ("修改车辆", "Change vehicle"),
    "audit.action.vehicle.delete": ("删除车辆", "Delete vehicle"),
    "audit.action.pass.create": ("登记访客通行证", "Register visitor pass"),
    "audit.action.pass.delete": ("删除访客通行证", "Delete visitor pass"),
    "audit.action.pass.update": ("修改访客通行证", "Change visitor pass"),
    "audit.detail.fields": ("修改项", "Changed"),
    "audit.detail.changes": ("修改内容", "Changes"),
    "audit.action.list.allow": ("加入白名单", "Add to allow list"),
    "audit.action.list.block": ("加入黑名单", "Add to block list"),
    "audit.action.list.delete": ("移出黑白名单", "Remove from a list"),
    "audit.action.face.consent": ("登记人脸授权", "Record face consent"),
    "audit.action.face.consent_withdrawn": ("撤回人脸授权", "Withdraw face consent"),
    "audit.action.face.enrol": ("录入人脸", "Enrol face"),
    "audit.action.face.delete": ("删除人脸", "Delete face"),
    "audit.action.face.snapshots_delete": ("删除人行门抓拍", "Delete gate photos"),
    "audit.action.zone.correct": ("修正车位计数", "Correct zone count"),
    # As 车位与火警 words them (触发火警联动（演练）, 解除火警): the office looks for 火警.
    "audit.action.safety.fire_alarm": ("触发火警联动", "Fire alarm on"),
    "audit.action.safety.fire_alarm_cleared": ("解除火警", "Fire alarm off"),
    "audit.action.guidance.hold": ("预留车位", "Hold a space"),
    "audit.action.guidance.release": ("取消预留车位", "Release a held space"),
    "audit.action.auth.login": ("登录", "Log in"),
    "audit.action.auth.login_failed": ("登录失败", "Failed login"),
    "audit.action.auth.logout": ("退出登录", "Log out"),
    "audit.detail.via": ("登录方式", "Via"),
    # What an entry acted on (its target), for targets no other column shows.
    "audit.target.resident": ("住户成员 #{id}", "Resident #{id}"),
    "audit.target.household": ("住户 #{id}", "Household #{id}"),
    "audit.target.vehicle": ("车辆 #{id}", "Vehicle #{id}"),
    "audit.target.pass": ("通行证 #{id}", "Visitor pass #{id}"),
    "audit.target.user": ("用户 #{id}", "User #{id}"),
    "audit.target.alarm": ("报警 #{id}", "Alarm #{id}"),
    "audit.target.zone": ("区域 {id}", "Zone {id}"),
    "audit.target.space": ("车位 {id}", "Space {id}"),
    "audit.target.plate": ("车牌 {id}", "Plate {id}"),
    "audit.target.all_gates": ("全部出入口", "All gates"),
    "audit.target.import": ("导入的文件（校验值 {id}）", "Imported file (SHA-256 {id})"),
    # Reasons the system itself writes (api/routes/faces.py), not typed by a person.
    "audit.reason.consent_withdrawn": ("居民撤回同意", "consent withdrawn"),
    "audit.reason.deletion_request": ("居民要求删除", "deletion request"),
    "audit.reason.move_out": ("搬离", "moved out"),
    "audit.yes": ("是", "yes"),
    "audit.no": ("否", "no"),
    "audit.detail.address": ("来源地址", "From address"),
    "audit.detail.paused_s": ("此后暂停登录（秒）", "Logins paused (s)"),
    "audit.detail.idle": ("闲置自动退出", "Idle log-out"),
    # A login's session and the log-out that ended it show the same short hash.
    "audit.detail.session": ("会话编号（摘要）", "Session (hash)"),
    "audit.detail.refused_until": ("此后拒绝至", "Refused until"),
    "audit.detail.typed": ("输入的用户名", "Name as typed"),
    "audit.detail.outcome": ("结果", "Outcome"),
    "audit.detail.kind": ("类型", "Kind"),
    "audit.detail.list": ("名单", "List"),
    "audit.detail.listed_reason": ("加入原因", "Why it was listed"),
    "audit.detail.listed_by": ("加入人", "Listed by"),
    "audit.detail.listed_at": ("加入时间", "Listed at"),
    "audit.detail.error": ("错误信息", "Error"),
    "audit.detail.resolution": ("处理", "Resolution"),
    "audit.detail.read_plate": ("识别车牌", "Read plate"),
    "audit.detail.pass_id": ("通行证", "Pass"),
    "audit.detail.templates_added": ("新增人脸模板", "Face templates added"),
    "audit.detail.templates_removed": ("删除人脸模板", "Face templates removed"),
    "audit.detail.snapshots_deleted": ("删除的抓拍", "Photos deleted"),
    "audit.detail.kept_for_guards": ("暂留（保安待处理）", "Kept for the guards"),
    "audit.detail.passages": ("导出的通行记录条数", "Passages exported"),
    "audit.detail.passage_offset": ("通行记录跳过条数", "Passages skipped"),
    "audit.detail.before": ("修正前", "Before"),
    "audit.detail.after": ("修正后", "After"),
    "audit.detail.holder": ("车辆", "Vehicle"),
    "audit.detail.until": ("保留至", "Held until"),
    "audit.unlimited": ("不限", "Unlimited"),
    "audit.none": ("无", "None"),
    "audit.detail.uses": ("已用次数", "Times used"),
    # Only a car's entries carry a resident_id: the resident who drives it.
    "audit.detail.resident_id": ("驾驶人", "Driver"),
    "audit.detail.active": ("启用", "Active"),
    "audit.detail.previous_role": ("原角色", "Previous role"),
    "audit.detail.decision": ("判定", "Decision"),
    "audit.detail.passage_reason": ("判定原因", "Why"),
    "audit.detail.matched_plate": ("按登记车牌", "Taken for plate"),
    # vehicle.update's and pass.update's "inside" (services/presence_corrections.py).
    "audit.detail.inside": ("场内的车", "Car inside"),
    "audit.inside.followed": ("随登记一起改", "follows the corrected record"),
    "audit.inside.merged": ("改后的车牌已在场内：合并为一辆，原记录所在区域减 1",
                            "the corrected plate was inside already: merged into one car, "
                            "its old zone down one"),
    # 场内车辆 (api/console/cars_inside.py) and its 标记已离场 (audit action presence.left).
    "inside.zones": ("各区域", "Zones"),
    "inside.zones_intro": (
        "计数是车位屏显示的已停车辆；记录在场是道闸记下进场、尚未出场的车。记录在场多于计数时，"
        "多出的多半是已离开但出场未识别的车：核实后在下方标记已离场。",
        "The count is what the boards show; cars recorded inside are those the gates saw come "
        "in and not leave. More recorded than counted usually means cars that left without "
        "their exit being read: check, then mark them left below.",
    ),
    "inside.count": ("计数 {occupied}/{capacity}", "count {occupied}/{capacity}"),
    "inside.recorded": ("记录在场 {n} 辆", "{n} cars recorded inside"),
    "inside.unzoned": ("未计入区域的在场车辆 {n} 辆", "{n} cars recorded inside no zone"),
    "inside.zone": ("区域", "Zone"),
    "inside.all_zones": ("全部区域", "All zones"),
    "inside.kind": ("类别", "Kind"),
    "inside.all_kinds": ("全部类别", "All kinds"),
    "inside.kind.resident": ("业主车辆", "Resident"),
    "inside.kind.visitor": ("访客车辆", "Visitor"),
    "inside.kind.other": ("其他", "Other"),
    "inside.pass": ("通行证 #{id}", "pass #{id}"),
    "inside.for_at_least": ("在场至少（小时）", "Inside at least (hours)"),
    "inside.hours_hint": ("如 12", "e.g. 12"),
    "inside.entered": ("进场时间", "Entered"),
    "inside.for": ("已在场", "Inside for"),
    "inside.entry": ("进场记录", "Entry"),
    "inside.days": ("{d} 天 {h} 小时", "{d} d {h} h"),
    "inside.hours": ("{h} 小时 {m} 分", "{h} h {m} min"),
    "inside.minutes": ("{m} 分", "{m} min"),
    "inside.none": ("没有符合条件的在场车辆", "No cars inside match"),
    # Longest inside first: the next page holds cars that came in later, so not 通行记录's
    # "Older ›" (its rows are newest first).
    "inside.previous": ("‹ 上一页", "‹ Previous"),
    "inside.next": ("下一页 ›", "Next ›"),
    "inside.unknown_zone": ("没有编号为“{zone}”的区域", "There is no zone “{zone}”"),
    # 场内车辆 and 通行记录: a plate box holding only symbols or invisible characters
    "search.no_plate_characters": (
        "车牌栏里没有可查找的字母或数字（只有符号或不可见字符），请输入完整或部分车牌",
        "The plate box holds no letter or digit to search for (only symbols or invisible "
        "characters): type a whole plate or part of one",
    ),
    "inside.mark": ("标记已离场", "Mark as left"),
    "inside.mark_for": ("标记 {plate} 已离场", "Mark {plate} as left"),
    "inside.mark_intro": (
        "{plate} 已不在场内，但出场未被识别时使用：删除其在场记录，所在区域计数减 1，与出场相同。",
        "For a car no longer inside whose exit was not read: its record inside goes and its "
        "zone's count comes down one, as at an exit.",
    ),
    "inside.mark_confirm": ("确认已离场", "Confirm it left"),
    "inside.done": ("已标记 {plate} 离场", "{plate} marked as left"),
    "inside.done.down": ("已标记 {plate} 离场，所在区域计数已减 1",
                         "{plate} marked as left; its zone's count came down one"),
    "inside.done.zero": ("已标记 {plate} 离场，所在区域计数已为 0，未再减少（计数为 0 时不变）",
                         "{plate} marked as left; its zone's count was already 0 and stays "
                         "there"),
    "inside.done.none": ("已标记 {plate} 离场；它不在任何区域的计数里，没有区域计数改变",
                         "{plate} marked as left; no zone counted it, so no count changed"),
    "inside.changed": (
        "{plate} 已不在场内记录中，或已重新进场（记录已变）：未做任何更改，请查看最新列表。",
        "{plate} is no longer recorded inside, or came in again: nothing was changed; look "
        "at the list again.",
    ),
    "inside.reason_needed": ("请为 {plate} 选择或填写离场原因（至少2个字）",
                             "Choose or type why {plate} is marked left (2+ characters)"),
    "left.p1": ("尾随前车出场，出口未识别", "Tailgated out, exit not read"),
    "left.p2": ("出口摄像头故障", "Exit camera fault"),
    "left.p3": ("巡查确认车辆不在场", "Patrol found the car gone"),
    "left.p4": ("车主确认已离开", "Owner confirmed it left"),
    "audit.group.presence": ("场内车辆", "Cars inside"),
    "audit.action.presence.left": ("标记已离场", "Marked car as left"),
    "audit.detail.zone": ("区域", "Zone"),
    "audit.detail.zone_moved": ("区域计数变化", "Zone count change"),
    "audit.detail.entered_at": ("进场时间", "Entered"),
    "admin.sep": ("：", ": "),
    "admin.join": ("；", "; "),
    "err.user_exists": ("用户 {name} 已存在", "User {name} already exists"),
    "err.last_admin": (
        "{name} 是最后一个启用的管理员，不能停用或改为保安：请先让另一个账号成为启用的管理员",
        "{name} is the last active admin: make another account an active admin first",
    ),
    "err.plate_registered": ("车牌 {plate} 已登记", "Plate {plate} is already registered"),
    "err.plate_listed": ("车牌 {plate} 已在黑白名单中", "Plate {plate} is already on a list"),
    "err.plate_exists": ("车牌 {plate} 已存在", "Plate {plate} already exists"),
    "err.household_exists": ("住户 {household} 已存在", "Household {household} already exists"),
    "err.exists": ("{what}已存在", "{what} already exists"),
    "err.household_has_vehicles": (
        "住户 #{id} 还有 {count} 辆车，请先删除车辆",
        "Household #{id} still has {count} vehicle(s): delete them first",
    ),
    "err.household_has_residents": (
        "住户 #{id} 还有 {count} 名住户成员，请先删除成员",
        "Household #{id} still has {count} resident(s): delete them first",
    ),
    "err.household_has_passes": (
        "住户 #{id} 还有 {count} 张访客通行证，请先删除通行证",
        "Household #{id} still has {count} visitor pass(es): delete them first",
    ),
    "err.resident_elsewhere": (
        "住户成员 #{id} 属于住户 #{household}，不属于住户 #{other}",
        "Resident #{id} belongs to household #{household}, not #{other}",
    ),
    "err.not_found": (
        "{what} #{id} 不存在（可能已被删除，请刷新页面）",
        "{what} #{id} does not exist (deleted? reload the page)",
    ),
    "err.not_found_household": ("住户 #{id} 不存在", "Household #{id} does not exist"),
    "err.not_a_plate": (
        "“{value}”不是有效的车牌号，例如 {example}",
        "“{value}” is not a valid Chinese plate, e.g. {example}",
    ),
    "err.must_be_after": ("{later}必须晚于{earlier}", "{later} must be after {earlier}"),
    "err.pass_needs_plate": (
        "请填写车牌；没有车的访客请勾选「步行访客（无车牌）」",
        "Type the visitor's plate; for a visitor on foot tick 「Visitor on foot (no plate)」",
    ),
    "err.walk_in_has_plate": (
        "步行访客通行证不填车牌：有车就取消勾选「步行访客（无车牌）」",
        "A walk-in pass has no plate: untick 「Visitor on foot (no plate)」 for a car",
    ),
    "err.not_null": ("{field}不能为空", "{field} cannot be emptied"),
    "err.blank": ("不能为空", "must not be blank"),
    "err.list_reason": (
        "请写明原因（至少 {count} 个字）",
        "say why the plate is listed (at least {count} characters)",
    ),
    "err.gate_refused": (
        "{gate}：未执行“{action}”，道闸处于{state}",
        "{gate}: {action} not carried out, the barrier is {state}",
    ),
    "err.gate_failed": (
        "{gate}：“{action}”失败，道闸没有按指令动作，请用道闸本身的手动方式"
        "放行并报修（设备原文：{detail}）",
        "{gate}: {action} failed, the barrier did not move; use its manual "
        "release and report it (device: {detail})",
    ),
    "err.gate_close_failed": (
        "{gate}：“{action}”失败，道闸没有按指令动作，杆可能还抬着：请看住道口，用道闸本身的"
        "手动方式落杆并报修（设备原文：{detail}）",
        "{gate}: {action} failed, the barrier did not move and may still be up: watch the "
        "lane, lower it by its manual control and report it (device: {detail})",
    ),
    "err.gate_unconfirmed": (
        "{gate}：“{action}”没有得到道闸确认，请看道闸实际状态",
        "{gate}: {action} was not confirmed by the barrier; check it",
    ),
    "err.passage_other_gate": (
        "通行记录 {id} 属于{gate}，不是{other}",
        "Passage {id} was at {gate}, not {other}",
    ),
    "err.review_taken": (
        "已由 {user} 处理（{resolution}），你的这次操作没有执行",
        "was already dealt with by {user} ({resolution}): yours was not carried out",
    ),
    "err.reveal_limit": (
        "一小时内已看过 {count} 个完整号码，到了上限：{wait} 秒后才能再看，急需请联系物业",
        "{count} whole numbers shown to {user} in the last hour, the limit: try again in {wait} s "
        "or ask the office",
    ),
    "err.alarm_taken": (
        "这条报警已由 {user} 确认处理，你的这次确认和处理情况没有记录",
        "this alarm was already acknowledged by {user}: your acknowledgement and note were not "
        "recorded",
    ),
    "err.no_fire_alarm": ("当前没有消防报警，无需解除", "No fire alarm is active"),
    "err.fire_input_active": (
        "消防控制柜的火警信号还在，不能解除：先让消防柜复位",
        "The fire panel's signal is still on: reset the panel first",
    ),
    "err.no_safety": ("本系统没有配置火警联动", "No fire-alarm supervisor is configured"),
    "err.typed_pedestrian": (
        "{gate}是人行通道：录入车牌只用于车辆出入口",
        "{gate} is a pedestrian gate: typed plates are for vehicle gates",
    ),
    "err.zone_not_found": (
        "区域 {zone} 不存在（配置已改？请刷新页面）",
        "Zone {zone} does not exist (configuration changed? reload the page)",
    ),
    "err.occupied_range": (
        "停放数要在 0 到 {capacity} 之间（区域 {zone}），填的是 {value}",
        "Between 0 and {capacity} for zone {zone}; got {value}",
    ),
    "err.photo_no_face": (
        "第 {n} 张照片里没有找到人脸：请用光线好、正对镜头的单人照片",
        "Photo {n}: no face found; use a well-lit, frontal photo of one person",
    ),
    "err.photo_faces": (
        "第 {n} 张照片里有 {count} 张人脸：照片里只能有要录入的这个人",
        "Photo {n}: {count} faces found; it must show only this person",
    ),
    "err.photo_face_outside": (
        "第 {n} 张照片的人脸超出了照片边缘",
        "Photo {n}: the face is cut off",
    ),
    "err.photo_face_small": (
        "第 {n} 张照片的人脸太小（{size} 像素，至少要 {need}）：靠近些拍或用大一点的照片",
        "Photo {n}: the face is too small ({size} px, {need} needed); "
        "come closer or use a larger photo",
    ),
    "err.photo_not_image": ("第 {n} 张不是 JPEG 或 PNG 照片", "Photo {n} is not a JPEG or PNG"),
    "err.photo_corrupt": ("第 {n} 张照片已损坏，打不开", "Photo {n} is damaged and cannot be read"),
    "err.photo_pixels": (
        "第 {n} 张照片太大（{mp} 百万像素，上限 {limit}）",
        "Photo {n} is too large ({mp} MP, limit {limit})",
    ),
    "err.upload_too_large": (
        "照片太大：一次上传合计不能超过 {limit} 字节，请少选几张或用小一点的照片",
        "Too large: one upload may hold {limit} bytes in all; send fewer or smaller photos",
    ),
    "err.no_phone": (
        "住户成员 #{id} 未登记电话，没有号码可显示",
        "Resident #{id} has no phone on file: there is no number to show",
    ),
    "err.no_face_consent": (
        "住户成员 #{id} 还没有记录人脸授权：请先「记录授权」",
        "Resident #{id} has no recorded face consent: record it first",
    ),
    "err.faces_erased_meanwhile": (
        "读取照片期间，住户成员 #{id} 的人脸数据已被删除：这些照片一张也没有保存；"
        "只有本人再次要求时才重新录入",
        "Resident #{id}'s face data was erased while these photos were read: none was "
        "stored; enrol again only if the resident asks",
    ),
    "err.faces_off": ("本系统未启用人脸识别", "Face recognition is not enabled here"),
    "err.enrol_busy": (
        "已有 {n} 批照片在排队或正在识别，请稍候再上传",
        "{n} enrolments are already waiting; send the photos again in a moment",
    ),
    "err.pin_digits": ("通行密码是 4 到 8 位数字", "A PIN is 4 to 8 digits"),
    "err.pin_simple": (
        "密码太简单：不能全是同一个数字或顺序数字（如 1234）",
        "Too simple: not all one digit or a run such as 1234",
    ),
    "err.refusal.fire_alarm_active": ("消防联动常开", "held open by the fire alarm"),
    "err.control_characters": ("不能包含控制字符", "must not contain control characters"),
    "err.one_line_name": ("只能写一行，不能有换行或制表符", "one line, no line breaks or tabs"),
    "err.outside_span": ("{value} 不在 2000–2100 年之间", "{value} is outside 2000–2100"),
    "err.pass_no_days": (
        "请至少勾选一天（每天都可来则全选）", "Tick at least one day (all for every day)"
    ),
    "err.pass_hours_pair": (
        "时段的开始和结束要一起填写（全天则都不填）",
        "Give both ends of the hours (neither for all day)",
    ),
    "err.pass_hours_empty": (
        "时段开始和结束都是 {time}，没有时长（全天则都不填）",
        "The hours start and end at {time}: no time at all (leave both empty for all day)",
    ),
    "err.pass_kind_car": (
        "通行证 #{id} 是有车访客的：车牌可以改正，但不能去掉；步行访客请另登记一张步行访客通行证",
        "Pass #{id} is for a car: its plate can be corrected, not removed; register a "
        "walk-in pass for a visitor on foot",
    ),
    "err.pass_kind_walk_in": (
        "通行证 #{id} 是步行访客的，不能加车牌；有车的访客请另登记一张通行证",
        "Pass #{id} is a walk-in pass and takes no plate; register a new pass for a car",
    ),
    "err.pass_host_fixed": (
        "通行证 #{id} 的被访住户不能修改；请删除后为另一住户重新登记",
        "The host of pass #{id} cannot change; delete it and register a new pass",
    ),
    "err.pass_uses_fixed": (
        "已用次数由道闸计数，不能修改；要多来几次请改「可用次数」",
        "Uses are counted by the gates; raise the allowed uses instead",
    ),
    "err.pass_uses_below": (
        "可用次数 {max} 少于已用的 {uses} 次",
        "Allowed uses {max} is below the {uses} already made",
    ),
    "err.pass_over": (
        "结束时间已过，通行证一开始就会失效",
        "The end time is already past: the pass would already be over",
    ),
    "err.pass_too_long": (
        "访客通行证最长 {days} 天；长期来访的车辆请登记为住户车辆",
        "A visitor pass lasts at most {days} days; register a car that "
        "comes for longer as a household's vehicle",
    ),
    "err.needs_zone": ("时间需要带时区，例如 {example}", "needs a time zone, e.g. {example}"),
    "err.needs_date": (
        "日期格式为 年-月-日，例如 {example}",
        "give a date as YYYY-MM-DD, e.g. {example}",
    ),
    "err.password_short": (
        "密码至少 {count} 个字符",
        "The password needs at least {count} characters",
    ),
    "err.password_same": ("新密码不能和当前密码一样", "The new password must differ"),
    "err.password_weak": (
        "密码太容易猜到：不能是同一个字符反复、12345678 或 qwertyui 这样的连续按键、"
        "password 这类常见密码，也不能是用户名加数字",
        "The password is too easy to guess: not one character repeated, a run like "
        "12345678 or qwertyui, a common password like password, or the username with digits",
    ),
    "err.username_length": ("用户名须为 1–64 个字符", "The username must be 1–64 characters"),
    "err.username_spaces": (
        "用户名不能含空格或看不见的字符",
        "The username must not contain spaces or invisible characters",
    ),
    "err.needs_month": (
        "月份格式为 年-月，例如 {example}",
        "give a month as YYYY-MM, e.g. {example}",
    ),
    "err.no_such_month": (
        "{value} 不是有效的月份（月份为 1–12）",
        "{value} is not a month (months are 1–12)",
    ),
    "err.month_not_begun": (
        "{value} 尚未开始，没有数据",
        "{value} has not begun: nothing to show",
    ),
    "err.role": ("角色只能是管理员或保安", "The role must be admin or guard"),
    "err.admin_only": ("此操作仅限管理员", "Only administrators may do this"),
    "err.csrf": ("页面已过期，请刷新后重试", "The page is stale: reload it and try again"),
    "err.database": (
        "数据库暂时不可用，请稍后再试",
        "The database is unavailable: try again shortly",
    ),
    "err.required": ("必填", "required"),
    "err.too_long": ("最多 {count} 个字符", "at most {count} characters"),
    "err.too_short": ("至少 {count} 个字符", "at least {count} characters"),
    "err.at_least": ("不能小于 {limit}", "must be at least {limit}"),
    "err.at_most": ("不能大于 {limit}", "must be at most {limit}"),
    "err.format": ("格式不正确", "wrong format"),
    "err.bad_time": ("请填写完整的日期和时间", "enter a full date and time"),
    "err.bad_number": ("请填写数字", "enter a number"),
    "err.bad_choice": ("不是可选的值", "not one of the choices"),
    "err.extra": ("多余的字段", "unexpected field"),
    # end admin
    # admin edit — per-row edit forms on the households page (households.html, admin.js)
    "edit.open": ("编辑", "Edit"),
    "edit.save": ("保存修改", "Save changes"),
    "edit.unchanged": ("没有修改任何内容", "Nothing was changed"),
    "edit.driver": ("驾驶人", "Driver"),
    "edit.no_driver": ("不指定", "None"),
    "edit.household": ("编辑住户 #{id}", "Edit household #{id}"),
    "edit.resident": ("编辑住户成员 #{id}", "Edit resident #{id}"),
    "edit.vehicle": ("编辑车辆 #{id}", "Edit vehicle #{id}"),
    # a visitor pass's edit on the passes page (passes.html, api/pass_patch.py)
    "edit.pass": ("编辑或延长访客通行证 #{id}", "Edit or extend visitor pass #{id}"),
    "pass.edit_open": ("编辑/延长", "Edit / extend"),
    "pass.edit_column": ("修改", "Change"),
    "pass.edited": ("已修改访客通行证 #{id}", "Visitor pass #{id} changed"),
    "pass.edit_note": (
        "结束时间改晚即延长（已过期的也能延长）；改早即提前结束，改成现在或更早立即失效。"
        "二维码不变。步行访客和有车访客不能互改，被访住户不能改：请删除后重新登记。",
        "A later end extends the pass (an expired one too); an earlier end shortens it, and "
        "now or earlier ends it at once. The QR code stays the same. A walk-in pass and a "
        "car's pass cannot become the other, nor change host: register a new pass.",
    ),
    # end admin edit
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
    "code.barrier_manual_open": ("异常抬杆", "Barrier raised without command"),
    "code.tailgating": ("跟车", "Tailgating"),
    "code.tailgating.pedestrian": ("尾随", "Tailgating (on foot)"),
    "code.camera_offline": ("摄像头离线", "Camera offline"),
    "code.journal_entry_set_aside": ("通行记录未能写入", "Passage record set aside"),
    "code.audit_entry_set_aside": ("操作日志未能写入", "Audit entry set aside"),
    "code.login_guessing": ("有人反复登录失败", "Repeated failed logins"),
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
    "code.disk_low": ("磁盘空间不足", "Disk space low"),
    "code.disk_full": ("磁盘已满", "Disk full"),
    "code.offline": ("离线判定", "Decided offline"),
    "code.typed": ("人工录入车牌", "Plate typed by guard"),
    "code.admission_undone": ("道闸未开，未计通行", "Barrier did not open: not counted"),
    "code.anonymised": ("已过保存期，车牌和车主已删除", "Past retention: plate and owner removed"),
    # the open bound to a passage whose barrier did not open (passage_row.html, live.js)
    "passage.open": ("人工开闸放行", "Open for this car"),
    "passage.open_hint": (
        "为这辆车开闸：放行后重新计入场内车辆、车位计数和通行证次数",
        "Open the barrier for this car: once through, it is counted again "
        "(inside, zone count, pass use)",
    ),
    "passage.counted_again": ("已重新计入通行", "the car is counted again"),
    "audit.detail.admission": ("通行计数", "Admission"),
    "audit.detail.hold_unchanged": ("常开状态未变（无需操作）", "Hold unchanged (nothing to do)"),
    "code.redone": ("已重新计入", "Counted again"),
    "code.clock_behind": ("系统时间异常", "System clock behind"),
    "code.clock_ahead": ("系统时间可能超前", "System clock may be ahead"),
    "code.clock_held": ("系统时间异常，时间为估计", "Clock behind: time estimated"),
    "code.province_tolerated": ("省份字存疑已匹配", "Province unsure, matched"),
    "code.fire_alarm": ("火警", "Fire alarm"),
    "code.plate": ("车牌", "Plate"),
    "code.face": ("人脸", "Face"),
    "code.qr": ("二维码", "QR code"),
    "code.admin": ("管理员", "Admin"),
    "code.console": ("值班控制台", "Console"),
    "code.api": ("接口（API）", "API"),
    "code.guard": ("保安", "Guard"),
    # live console
    "skip.main": ("跳到主要内容", "Skip to main content"),
    "skip.gates": ("跳到道闸控制", "Skip to gate controls"),
    "skip.review": ("跳到待处理车辆", "Skip to the review queue"),
    "gates.state": ("状态：", "State: "),
    "gates.done_open": ("已开闸", "opened"),
    "gates.done_close": ("已关闸", "closed"),
    "gates.done_hold_open": ("已设为常开", "held open"),
    "gates.done_release": ("已取消常开", "released"),
    "gates.noop_open": ("道闸已处于常开状态，无需开闸", "is held open already: nothing to open"),
    "gates.noop_close": ("道闸已是关闭状态，未执行动作", "was already closed: nothing done"),
    "gates.noop_hold_open": ("已是常开状态，未执行动作", "was already held open: nothing done"),
    "gates.noop_release": ("未处于常开状态，无需取消常开", "was not held open: nothing to release"),
    "gates.now": ("当前状态：{state}", "state now: {state}"),
    "gates.done": ("{gate}：{what}（{now}）", "{gate}: {what} ({now})"),
    "reason.choose": ("请选择…", "Choose…"),
    "age.seconds": ("{n}秒前", "{n} s ago"),
    "age.minutes": ("{n}分钟前", "{n} min ago"),
    "age.hours": ("{n}小时前", "{n} h ago"),
    "review.left": ("车已离开", "Car has left"),
    "review.left_reason": ("车辆未等处理已自行离开", "The car left before it was dealt with"),
    "review.no_plate": ("无牌车", "no plate"),
    "review.no_plate_reason": ("（无牌车，已确认）", " (no plate, confirmed)"),
    "review.plate_needed": (
        "登记访客通行证需要车牌，请先填写车牌",
        "A visitor pass needs the plate: type it first",
    ),
    "review.confirm_title": ("确认放行？", "Allow this car?"),
    "review.confirm_old": (
        "这辆车{age}到达{gate}，可能已经离开。放行会立即开闸，无论现在闸前是哪辆车。",
        "This car arrived at {gate} {age} and may have left. Allowing opens the barrier now, "
        "for whichever car is there.",
    ),
    "review.confirm_no_plate": (
        "没有填写车牌。能看清车牌请先填写；确认是无牌车才放行。",
        "No plate entered. If the plate is readable, type it first; allow only a car with "
        "no plate.",
    ),
    "review.confirm_ok": ("仍然放行", "Allow now"),
    "review.confirm_ok_no_plate": ("无牌车，放行", "No plate: allow"),
    "review.type_plate": ("填写车牌", "Type the plate"),
    "review.done_allow": ("{gate}：已放行 {plate}", "{gate}: allowed {plate}"),
    "review.done_pass": (
        "{gate}：已登记访客通行证 #{pass_id} 并放行 {plate}",
        "{gate}: visitor pass #{pass_id} registered, {plate} allowed",
    ),
    "review.done_deny": ("{gate}：已拒绝 {plate}", "{gate}: denied {plate}"),
    "review.done_left": (
        "{gate}：{plate} 已移出队列（车已离开）",
        "{gate}: {plate} taken off the queue (car left)",
    ),
    "review.barrier": ("道闸：{state}", "barrier: {state}"),
    "review.barrier_fault": (
        "道闸未能开启，请人工开闸",
        "the barrier did not open: open it by hand",
    ),
    "review.taken": (
        "{gate}：{plate} 已由 {user} 处理",
        "{gate}: {plate} was dealt with by {user}",
    ),
    # Our resolution came second (409): why is the API's refusal (err.review_taken).
    "review.taken_first": ("{gate}：{plate} {why}", "{gate}: {plate} {why}"),
    "row.allowed": ("已放行", "Allowed"),
    "row.denied": ("已拒绝", "Denied"),
    "session.title": ("登录已过期", "Your session has expired"),
    "session.not_done": ("以下操作没有执行：", "This was NOT carried out: "),
    "session.text": ("请重新登录，然后再操作一次。", "Log in again, then do it again."),
    "session.login": ("重新登录", "Log in again"),
    "code.no_barrier": ("无道闸", "No barrier"),
    # operator-guide fixes: flags, pedestrian reviews, waits, gate faults
    "code.not_recorded_inside": ("已登记车辆，放行", "Registered: let out"),
    "code.turn_head": ("需转头验证", "Head turn asked"),
    "code.face_too_small": ("人脸太小", "Face too small"),
    "code.now_locked": ("已锁定", "Now locked"),
    "code.several_faces": ("多人同时在镜头前", "Several faces"),
    "login.wait_seconds": ("{n}秒", "{n} seconds"),
    "login.wait_minutes": ("{n}分钟", "{n} minutes"),
    "review.host_needed": ("请选择被访住户", "Choose the host household"),
    "review.person": ("行人", "the person"),
    "review.confirm_person": (
        "闸前的人未通过刷脸或密码验证。请先核实身份（如联系被访住户），确认后再放行。",
        "This person was not recognised by face or PIN. Check who it is (call the host, "
        "for instance) before letting them through.",
    ),
    "review.confirm_title_person": ("确认放行这位行人？", "Let this person through?"),
    "review.confirm_ok_person": ("已核实，放行", "Checked: let through"),
    "review.person_reason": ("（行人，已核实身份）", " (pedestrian, identity checked)"),
    "review.left_person": ("人已离开", "Person has left"),
    "review.left_reason_person": (
        "行人未等处理已自行离开",
        "The person left before it was dealt with",
    ),
    "review.done_left_person": (
        "{gate}：{plate} 已移出队列（人已离开）",
        "{gate}: {plate} taken off the queue (person left)",
    ),
    "gates.close_deferred": (
        "闸下有车辆或行人，道闸保持开启，离开后自动关闸",
        "something is on the loop: the barrier stays open and closes once it is clear",
    ),
    "fault.relay_offline": (
        "故障：道闸控制器离线（断电或断网）",
        "Fault: the gate's relay is offline (power or network lost)",
    ),
    "fault.link_lost": ("故障：通信中断", "Fault: connection to the gate lost"),
    "fault.not_in_place": (
        "故障：道闸未到位（可能卡住或被挡住）",
        "Fault: the arm did not reach its position (stuck or blocked?)",
    ),
    "fault.no_answer": ("故障：设备无响应", "Fault: the device does not answer"),
    "fault.relay_mismatch": ("故障：继电器未按指令动作", "Fault: the relay did not switch as told"),
    "fault.refused": ("故障：设备拒绝指令", "Fault: the device refused the command"),
    "fault.input_address": (
        "故障：控制板无此输入地址（地感或限位），请检查配置",
        "Fault: the board has no such input (loop or limit switch): check its address",
    ),
    "fault.raw": ("设备原始信息（供维修人员参考）", "Driver message, for the technician"),
}

# Keys the browser needs for text it builds itself (dialogs, live rows, errors).
JS_KEYS = (
    "reason.required",
    "msg.saved",
    "msg.failed",
    "msg.network",
    "msg.live_lost",
    "alarms.sound_on",
    "alarms.sound_off",
    "admin.confirm_delete",
    "table.scroll_hint",
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


def alarm_kinds() -> tuple[str, ...]:
    """The alarm kinds the console explains (an ``alarm.hint.<kind>`` each), in this table's
    order: what 报警记录 offers to filter by."""
    prefix = "alarm.hint."
    return tuple(
        key.removeprefix(prefix)
        for key in _TEXTS
        if key.startswith(prefix) and "." not in key.removeprefix(prefix)
    )


def js_texts(lang: Lang) -> dict[str, str]:
    return {key: translate(lang, key) for key in JS_KEYS}
