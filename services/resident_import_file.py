"""Reading a property office's spreadsheet of households, residents and cars (批量导入).

The office keeps its list in Excel. Excel on a Chinese Windows saves "CSV" in GB18030/GBK,
"CSV UTF-8" in UTF-8 with a BOM and "Unicode text" in UTF-16 with tabs; the file may have
been through WPS or a text editor too. So the encoding is detected (BOM first, then strict
UTF-8, then GB18030, a superset of GBK), the separator is the header line's (comma or tab),
and the headers may be Chinese or English with the hints people add to them ("楼栋*",
"车牌颜色（蓝/黄/绿）"). What can not be read as such a table is refused as a whole with a
message in English (the API's) and in Chinese (the console's), never a 500.

Only reading lives here; what the rows mean is ``services/resident_import.py``.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from errors import InvalidInputError, PayloadTooLargeError, UnsupportedMediaError

# A 5,000-flat community's list with a car per row is about 300 KB; 2 MB leaves room for
# long notes without letting one upload tie up a 2-core controller.
MAX_BYTES = 2_000_000
# More rows than any one community has: past this the file is the wrong one (a city's list).
MAX_ROWS = 20_000
# Offices put a title ("阳光花园小区业主信息表", a merged cell) and a date line or two above the
# header; the header is looked for in this many first non-blank rows.
HEADER_SEARCH_ROWS = 5

# Field → the header names taken for it, folded as ``fold_header`` folds a header.
COLUMNS: Mapping[str, tuple[str, ...]] = {
    "building": ("楼栋", "栋", "楼号", "栋号", "楼", "building"),
    "unit": ("房号", "单元", "房间", "房间号", "门牌号", "单元房号", "unit", "room"),
    "name": ("姓名", "住户姓名", "业主姓名", "名字", "name"),
    "phone": ("电话", "手机", "手机号", "手机号码", "联系电话", "电话号码", "phone", "mobile"),
    "plate": ("车牌", "车牌号", "车牌号码", "plate"),
    "plate_color": ("车牌颜色", "颜色", "plate_color", "platecolor", "color", "colour"),
    "spaces": ("车位数", "车位", "spaces"),
    "note": ("备注", "note"),
}
REQUIRED = ("building", "unit")
# The Chinese header each field is named by in messages and in the template.
HEADER_ZH: Mapping[str, str] = {
    "building": "楼栋", "unit": "房号", "name": "姓名", "phone": "电话", "plate": "车牌",
    "plate_color": "车牌颜色", "spaces": "车位数", "note": "备注",
}
_ALIASES = {alias: name for name, aliases in COLUMNS.items() for alias in aliases}
# A hint after the name: "车牌颜色(蓝/黄/绿)", "楼栋*", "电话（选填）" (NFKC makes （） ASCII).
_HINT = re.compile(r"\(.*\)|\*|\s")
# Zip (.xlsx, .et) and OLE2 (.xls): a workbook sent instead of a CSV saved from it.
_WORKBOOK_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0")
# A line after the file's last: read back alone unless a quote left open swallowed it. A
# private-use character, which no office's sheet holds.
_END = "\ue000"


class SaidInChinese(Exception):
    """A refusal of the import that carries its Chinese wording too (``zh``): the API says
    the English ``message``, the console and the office's CLI line the Chinese. Listed before
    the error class it is mixed into, which keeps its HTTP status."""

    def __init__(self, message: str, zh: str) -> None:
        super().__init__(message)
        self.zh = zh


class ImportFileError(SaidInChinese, InvalidInputError):
    """A file that cannot be read as an import table (HTTP 422)."""


class ImportFileTooLargeError(SaidInChinese, PayloadTooLargeError):
    """Over ``MAX_BYTES`` or ``MAX_ROWS`` (HTTP 413)."""


class ImportFileTypeError(SaidInChinese, UnsupportedMediaError):
    """Not text at all: a workbook, an image (HTTP 415)."""


def chinese_text(err: Exception) -> str:
    """The Chinese message of a refused file; any other error as it is."""
    return err.zh if isinstance(err, SaidInChinese) else str(err)


@dataclass(frozen=True, slots=True)
class ImportTable:
    """A file read as a table: which column is which field, and the rows that are not blank,
    each with its row number as a spreadsheet shows it (the header is row 1)."""

    columns: Mapping[str, int]
    ignored: tuple[str, ...]
    rows: tuple[tuple[int, tuple[str, ...]], ...]
    encoding: str
    delimiter: str
    header_row: int = 1

    def value(self, cells: tuple[str, ...], name: str) -> str:
        index = self.columns.get(name)
        if index is None or index >= len(cells):
            return ""
        return cells[index].strip()


def too_large(size: int | None) -> ImportFileTooLargeError:
    """Over ``MAX_BYTES``; ``size`` None when only the upload's whole body is known to be."""
    if size is None:
        return ImportFileTooLargeError(
            f"the file is more than the limit of {MAX_BYTES} bytes: split it into several files",
            f"文件太大（最多 {MAX_BYTES} 字节），请分成几个文件导入",
        )
    return ImportFileTooLargeError(
        f"the file has {size} bytes, more than the limit of {MAX_BYTES}: split it into "
        "several files",
        f"文件太大（{size} 字节，最多 {MAX_BYTES} 字节），请分成几个文件导入",
    )


def decode(data: bytes) -> tuple[str, str]:
    """The text and the encoding it was in."""
    if len(data) > MAX_BYTES:
        raise too_large(len(data))
    if not data.strip():
        raise ImportFileError("the file is empty", "文件是空的")
    if data.startswith(_WORKBOOK_MAGIC):
        raise ImportFileTypeError(
            "this is an Excel workbook, not a CSV file: in Excel choose 另存为 (Save As) → "
            "CSV UTF-8 (comma delimited) and import that file",
            "这是 Excel 工作簿，不是 CSV 文件：请在 Excel 里「另存为」→「CSV UTF-8（逗号分隔）」"
            "后导入另存的文件",
        )
    for bom, encoding in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"),
                          (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            try:
                return _text(data.decode(encoding)), encoding.removesuffix("-sig")
            except UnicodeDecodeError:
                break
    else:
        for encoding in ("utf-8", "gb18030"):
            try:
                return _text(data.decode(encoding)), encoding
            except UnicodeDecodeError:
                continue
    raise ImportFileError(
        "the file is neither UTF-8 nor GBK/GB18030 text: save it from Excel as CSV UTF-8",
        "文件编码无法识别（不是 UTF-8，也不是 GBK/GB18030）：请在 Excel 里另存为「CSV UTF-8」",
    )


def _text(text: str) -> str:
    # A NUL never occurs in a spreadsheet's text: an image or an archive decoded by luck.
    if "\x00" in text:
        raise ImportFileTypeError(
            "the file is not a text table (it holds binary data): upload a CSV file",
            "文件不是表格文本（含有二进制内容），请上传 CSV 文件",
        )
    return text


def fold_header(cell: str) -> str:
    return _HINT.sub("", unicodedata.normalize("NFKC", cell)).strip().lower()


def _delimiter(first_line: str) -> str:
    # Tab when the header has more tabs than commas: Excel's "text (tab delimited)" and
    # "Unicode text"; a comma inside a quoted header does not tip it.
    return "\t" if first_line.count("\t") > first_line.count(",") else ","


def _map_header(header: list[str]) -> tuple[dict[str, int], tuple[str, ...]]:
    columns: dict[str, int] = {}
    ignored: list[str] = []
    for index, cell in enumerate(header):
        name = _ALIASES.get(fold_header(cell))
        if name is None:
            if cell.strip():
                ignored.append(cell.strip())
            continue
        if name in columns:
            raise ImportFileError(
                f"columns {columns[name] + 1} and {index + 1} are both {name!r}: keep one",
                f"第 {columns[name] + 1} 列和第 {index + 1} 列都是「{HEADER_ZH[name]}」，"
                "请只保留一列",
            )
        columns[name] = index
    missing = [name for name in REQUIRED if name not in columns]
    nobody = "name" not in columns and "plate" not in columns  # a row would name no one
    if missing or nobody:
        wanted = [*missing, *(["name or plate"] if nobody else [])]
        zh = "、".join([*(HEADER_ZH[m] for m in missing), *(["姓名或车牌"] if nobody else [])])
        shown = ", ".join(c.strip() for c in header if c.strip())[:200]
        raise ImportFileError(
            f"the header row lacks the column(s) {', '.join(wanted)} (found: {shown or 'none'});"
            " the first row must name the columns, e.g. 楼栋,房号,姓名,电话,车牌,车牌颜色,备注",
            f"第一行（表头）缺少列：{zh}（现有：{shown or '无'}）。第一行要写列名，例如 "
            "楼栋,房号,姓名,电话,车牌,车牌颜色,备注；可下载模板对照",
        )
    return columns, tuple(ignored)


def _names_a_flat(cells: list[str]) -> bool:
    """Whether a row names the building and unit columns: the header, not a title above it."""
    fields = {_ALIASES.get(fold_header(cell)) for cell in cells}
    return all(name in fields for name in REQUIRED)


def _too_many_rows() -> ImportFileTooLargeError:
    return ImportFileTooLargeError(
        f"the file has more than {MAX_ROWS} rows: split it into several files",
        f"文件超过 {MAX_ROWS} 行，请分成几个文件导入",
    )


def read_table(data: bytes) -> ImportTable:
    """The file as an :class:`ImportTable`; refused whole (``ImportFileError`` and its
    siblings) when it is not one."""
    text, encoding = decode(data)
    lines = [line for line in text.splitlines() if line.strip()]
    # The separator from the header line: a title line above it has no commas to count.
    first = next((line for line in lines[:HEADER_SEARCH_ROWS]
                  if _names_a_flat(re.split("[,\t]", line))), lines[0] if lines else "")
    delimiter = _delimiter(first)
    # The end marked by a line of its own: csv reads a quote never closed to the end of the
    # file as one cell, silently, so every row after it was lost (or became one name).
    ended = text if text.endswith(("\n", "\r")) or not text else text + "\n"
    reader = csv.reader(io.StringIO(ended + _END, newline=""), delimiter=delimiter)
    records: list[tuple[int, tuple[str, ...]]] = []
    number = 0
    try:
        # Counted in records, not lines: a cell with a line break in it is still one row of
        # the spreadsheet, and the office looks the row up by the number Excel shows.
        for number, cells in enumerate(reader, start=1):
            if cells == [_END]:
                break
            if cells and cells[-1].endswith(_END):
                raise ImportFileError(
                    f'row {number}: a quote (") opened in it is never closed, so every line '
                    "after it would be read as one cell: close the quote or remove it",
                    f'第 {number} 行有一个引号（"）没有配对，它后面的各行都会被读进同一格：'
                    "请补上或删掉这个引号",
                )
            # Excel writes ",,,,," for a row it thinks is used; nothing to import there.
            if not any(c.strip() for c in cells):
                continue
            if len(records) > MAX_ROWS + HEADER_SEARCH_ROWS:
                raise _too_many_rows()
            records.append((number, tuple(cells)))
    except csv.Error as err:
        raise ImportFileError(
            f"row {number + 1} cannot be read as CSV: {err}",
            f"第 {number + 1} 行不是有效的 CSV（{err}），请检查引号",
        ) from err
    if not records:
        raise ImportFileError("the file is empty", "文件是空的")
    # The first row naming 楼栋 and 房号 is the header; without one the first row is taken,
    # and its refusal says which columns it lacks.
    at = next((i for i, (_, cells) in enumerate(records[:HEADER_SEARCH_ROWS])
               if _names_a_flat(list(cells))), 0)
    header_row, header = records[at][0], list(records[at][1])
    rows = records[at + 1:]
    if len(rows) > MAX_ROWS:
        raise _too_many_rows()
    columns, ignored = _map_header(header)
    if not rows:
        raise ImportFileError(
            "the file has a header row but no data rows",
            "文件只有表头，没有数据行",
        )
    return ImportTable(columns, ignored, tuple(rows), encoding,
                       "tab" if delimiter == "\t" else "comma", header_row)


def template_csv() -> bytes:
    """The template the console offers: UTF-8 with a BOM so that Excel on a Chinese Windows
    opens it with the Chinese intact, the Chinese headers and two example rows (one flat,
    two members, one car)."""
    rows = [
        ["楼栋", "房号", "姓名", "电话", "车牌", "车牌颜色", "车位数", "备注"],
        ["3栋", "1201", "张伟", "13800138000", "闽A12345", "蓝", "1", "业主"],
        ["3栋", "1201", "李娜", "13900139000", "", "", "", ""],
    ]
    return ("\ufeff" + "".join(",".join(row) + "\r\n" for row in rows)).encode("utf-8")
