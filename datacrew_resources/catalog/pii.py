"""PII detection: by a column's name, and by the values of a small sample.

A column's name alone marks email, phone, card number, national id, person
name (`first_name`, `surname`...), postal address and date-of-birth columns.
Values mark a column when at least `MIN_SHARE` of its sampled non-empty values
match one kind:

- email: `local@domain.tld`;
- phone: 10 to 15 digits after a `+` or in three groups or more (`+1 212 555 0100`,
  `(212) 555-0100`); bare digit runs are ids and dotted quads IP addresses;
- card number: 13 to 19 digits, optionally grouped by spaces or dashes, passing
  the Luhn check (a random number passes one time in ten, under `MIN_SHARE`);
- national id: the US SSN pattern `123-45-6789` (never 000, 666 or 9xx areas);
- person name: two capitalised words (`Ada Lovelace`), counted only in
  columns whose name suggests people (`name`, `customer`, `passenger`...), and
  never words that name organisations or places (`Envoy Air`, `Randall Airport`).

The sample (`Sampler`) is the first `limit` rows of a dataset's text and wide
integer columns, read once, for local files and DuckDB tables; other formats
are judged by column names.
"""

from __future__ import annotations

import functools
import re
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow._parquet import ParquetReader

from ..config.errors import first_line
from .errors import DiscoveryError
from .models import ColumnInfo, DatasetRecord, PiiColumn, PiiKind

MIN_SHARE = 0.5
# Types a sample reads: text, and integers wide enough to hold a card number.
SAMPLED_TYPES = frozenset({"VARCHAR", "BIGINT", "UBIGINT", "HUGEINT", "UHUGEINT"})
_TEXT_READERS = {"csv": "read_csv", "json": "read_json"}
_SAMPLED_FORMATS = frozenset({"parquet", "csv", "json", "duckdb_table"})

# Name rules, first match wins, on the name's words joined by `_` (`CustomerEMail` -> `customer_email`);
# a rule matches whole words (`emailed_at` and `card_notes` hold no PII), compounds too (`emailaddress`).
_NUMBER = r"(?:_?(?:no|num|number|id))?"
_NAME_RULES: tuple[tuple[PiiKind, str], ...] = (
    ("email", r"e_?mail(?:_?address)?"),
    ("card_number", rf"credit_?card{_NUMBER}|card_?(?:no|num|number)|cc_?(?:no|num|number)|pan|ccn"),
    ("national_id", rf"ssn|social_?security{_NUMBER}|national_?(?:id|insurance){_NUMBER}|nino"
                    rf"|passport{_NUMBER}|tax_?id|drivers?_?licen[cs]e{_NUMBER}|driving_?licen[cs]e{_NUMBER}"),
    ("phone", rf"(?:tele|cell_?|mobile_?)?phone{_NUMBER}|mobile_?(?:no|num|number)|msisdn|tel|fax{_NUMBER}"),
    ("date_of_birth", r"dob|date_?of_?birth|birth_?date|birthday|birth"),
    ("address", r"address(?:_?line_?\d*)?|street|zip(?:_?code)?|post(?:al)?_?code"),
    ("person_name", r"(?:first|last|full|given|family|middle|maiden)_?name|surname|forename"),
)
# Type families a column claimed by its name must have to hold the kind.
_HOLDERS: dict[PiiKind, frozenset[str]] = {
    "email": frozenset({"text"}),
    "person_name": frozenset({"text"}),
    "card_number": frozenset({"text", "integer"}),
    "national_id": frozenset({"text", "integer"}),
    "phone": frozenset({"text", "integer"}),
    "address": frozenset({"text", "integer"}),  # zip codes
    "date_of_birth": frozenset({"text", "integer", "temporal"}),
}
_NAME_PATTERNS = tuple((kind, re.compile(rf"(?:^|_)(?:{rule})(?:_|$)")) for kind, rule in _NAME_RULES)
# `ip_address`, `mac_address`, `web_address` hold no postal address.
_NOT_POSTAL = frozenset({"ip", "mac", "web", "url", "wallet", "contract", "memory"})
# Columns whose capitalised two-word values are person names.
_PEOPLE_WORDS = frozenset({"name", "customer", "passenger", "contact", "holder", "cardholder", "employee",
                           "person", "patient", "member", "recipient", "sender", "pilot", "crew"})

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_PHONE = re.compile(r"\+?[\d\s().-]+")
_NUMERIC_LIKE = re.compile(r"[\d\s+().-]+")
_IPV4 = re.compile(r"\d{1,3}(\.\d{1,3}){3}")
_CARD = re.compile(r"\d(?:[ -]?\d){12,18}")
_SSN = re.compile(r"(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}")
# A capitalised word: `Ada`, `O'Neil`, `McDonald`, `Anne-Marie`.
_NAME_WORD = r"((?:[A-Z]')?[A-Z][a-z]+(?:[A-Z][a-z]+)?(?:-[A-Z][a-z]+)?)"
_PERSON_NAME = re.compile(f"{_NAME_WORD} {_NAME_WORD}")
_NOT_PERSON_WORDS = frozenset({
    "Air", "Airlines", "Airline", "Airways", "Airport", "Arpt", "Airfield", "Aerodrome", "Aviation", "Field",
    "Regional", "Rgnl", "Muni", "Mem", "Afb", "Aaf", "Metro",
    "International", "Intl", "Municipal", "County", "City", "Island", "Lake", "Lakes", "River", "Valley",
    "Park", "Station", "Base", "Heliport", "Seaplane", "Inc", "Co", "Corp", "Corporation", "Company",
    "Ltd", "Group", "Bank", "Holdings", "Services", "University", "College", "School", "Hospital",
    "Center", "Centre", "Street", "Road", "Avenue", "America", "Express",
})


def name_words(column: str) -> list[str]:
    """`CustomerEmail` -> [customer, email]; `date-of-birth` -> [date, of, birth]."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", column)
    return re.findall(r"[a-z]+|\d+", spaced.lower())


@functools.lru_cache(maxsize=4096)  # a lake repeats its column names across thousands of datasets
def kind_by_name(column: str) -> PiiKind | None:
    words = name_words(column)
    joined = "_".join(words)
    for kind, pattern in _NAME_PATTERNS:
        if pattern.search(joined) and not (kind == "address" and _NOT_POSTAL.intersection(words)):
            return kind
    return None


@functools.lru_cache(maxsize=4096)
def names_people(column: str) -> bool:
    """The column may hold person names, which its values must then show."""
    return bool(_PEOPLE_WORDS.intersection(name_words(column)))


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def is_email(value: str) -> bool:
    return _EMAIL.fullmatch(value) is not None


def is_phone(value: str) -> bool:
    if value.isdigit() or not _PHONE.fullmatch(value) or _IPV4.fullmatch(value):
        return False
    groups = re.findall(r"\d+", value)
    # A leading + or three digit groups: `12345.678901` (one separator) is a number, not a phone.
    return (value.startswith("+") or len(groups) >= 3) and 10 <= sum(map(len, groups)) <= 15


def is_card_number(value: str) -> bool:
    return _CARD.fullmatch(value) is not None and luhn_valid(re.sub(r"[ -]", "", value))


def is_national_id(value: str) -> bool:
    return _SSN.fullmatch(value) is not None


def is_person_name(value: str) -> bool:
    match = _PERSON_NAME.fullmatch(value)
    return match is not None and not _NOT_PERSON_WORDS.intersection(match.groups())


# Card numbers before phones: a grouped 15-digit Amex number also looks like a phone number.
VALUE_MATCHERS: dict[PiiKind, Callable[[str], bool]] = {
    "email": is_email,
    "card_number": is_card_number,
    "national_id": is_national_id,
    "phone": is_phone,
}


def detect_column(
    column: str, type_: str, values: Sequence[str] | pa.Array | None, screened: Screen | None = None
) -> PiiColumn | None:
    """The PII `column` of DuckDB type `type_` holds, judging by its name and sampled `values`
    (None: not sampled; a pyarrow string array or a sequence of text), `screened` beforehand
    (`screen`) or not."""
    named = kind_by_name(column)
    if named is not None and _family(type_) not in _HOLDERS[named]:
        named = None  # `email_opt_in BOOLEAN` is about email, holds none
    people = named is None and names_people(column)
    if named is None and not people and screened is not None and not screened.may_match:
        return None
    if isinstance(values, pa.Array):
        values = values.to_pylist()
    present = [v.strip() for v in values or () if v is not None and v.strip()]
    shares = _shares(present, named, people)
    if named is not None:
        share = shares.get(named) if values is not None else None
        # Email addresses always look like one: sampled values without any say `email_status`.
        if not (named == "email" and present and share == 0):
            return PiiColumn(column=column, kind=named, by_name=True,
                             value_share=None if share is None else round(share, 4), sampled=len(present))
    best = max((k for k in shares if k != named), key=lambda kind: shares[kind], default=None)
    if best is None or shares[best] < MIN_SHARE:
        return None
    return PiiColumn(column=column, kind=best, by_name=False, value_share=round(shares[best], 4),
                     sampled=len(present))


@dataclass(frozen=True)
class Screen:
    """Vectorised bounds on a sample's values: present ones under-counted, candidates over-counted."""

    present: int  # values holding a letter, digit, mark, punctuation or symbol (never blank to `str.strip`)
    at: int  # values holding an `@` (email candidates)
    numeric: int  # values of nine characters or more without a letter (a superset of `_NUMERIC_LIKE`'s)

    @property
    def may_match(self) -> bool:
        """False only when no kind `_shares` checks by value can reach `MIN_SHARE`."""
        needed = MIN_SHARE * self.present
        return self.present > 0 and (self.at >= needed or self.numeric >= needed)


_NOT_BLANK = r"[\p{L}\p{N}\p{M}\p{P}\p{S}]"
_NUMERIC_CANDIDATE = r"^[^\p{L}]{9,}$"  # nine characters or more, none a letter


def screen(blocks: Blocks) -> list[Screen]:
    """A `Screen` of each sample, computed over all of them at once (a kernel call per sample
    would cost more than the checks it saves)."""
    values = blocks.values
    present = blocks.sums(pc.match_substring_regex(values, _NOT_BLANK))
    at = blocks.sums(pc.match_substring(values, "@"))
    numeric = blocks.sums(pc.match_substring_regex(values, _NUMERIC_CANDIDATE))
    return [Screen(*figures) for figures in zip(present, at, numeric, strict=True)]


class Blocks:
    """Samples' values (large string arrays) laid end to end, for figures of each computed in
    one kernel call.

    (`Table.group_by` would do, but its first use imports pandas, 2 s.)
    """

    def __init__(self, samples: Sequence[pa.Array]):
        self.offsets = array("q", [0])
        for sample in samples:
            self.offsets.append(self.offsets[-1] + len(sample))
        self.values = pa.concat_arrays(list(samples))  # `Sample` values are all large strings

    def sums(self, flags: pa.Array) -> list[int]:
        """The number of true `flags` (one per value) in each block."""
        running = pc.cumulative_sum(pc.cast(flags, pa.int64()))
        ends = array("q", (max(o - 1, 0) for o in self.offsets))
        taken = running.take(int64s(ends)).to_pylist() if len(running) else [0] * len(ends)
        # The running count before each block's start and after its end (0 before the first value).
        through = [t if o > 0 else 0 for t, o in zip(taken, self.offsets, strict=True)]
        return [b - a for a, b in zip(through, through[1:])]

    @property
    def lengths(self) -> list[int]:
        return [b - a for a, b in zip(self.offsets, self.offsets[1:])]


# `pa.array` of a Python list imports pandas (2 s) to check for its types: buffers do not.
def int64s(values: array) -> pa.Array:
    return pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(values)])


def strings(values: Sequence[str]) -> pa.Array:
    """A pyarrow string array of `values`."""
    encoded = [v.encode("utf-8", errors="replace") for v in values]
    offsets = array("q", [0])
    for value in encoded:
        offsets.append(offsets[-1] + len(value))
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))]
    return pa.Array.from_buffers(pa.large_string(), len(encoded), buffers)


def _family(type_: str) -> str:
    upper = type_.upper()
    if upper in ("VARCHAR", "TEXT", "STRING"):
        return "text"
    if upper.removeprefix("U") in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"):
        return "integer"
    if upper.startswith(("DATE", "TIMESTAMP")):
        return "temporal"
    return "other"


def _shares(present: list[str], named: PiiKind | None, people: bool) -> dict[PiiKind, float]:
    """Share of `present` values matching each kind worth checking.

    Cheap tests narrow each kind's candidates first (an `@` for emails, only digits
    and separators for numbers); a kind whose candidates cannot reach `MIN_SHARE`
    is skipped unless the name claims it, which wants its share whatever it is.
    """
    if not present:
        return {}
    # Nine digits at least (an SSN): short numbers are none of the numeric kinds.
    numeric = [v for v in present if len(v) >= 9 and _NUMERIC_LIKE.fullmatch(v)]
    candidates: dict[PiiKind, list[str]] = {kind: numeric for kind in ("card_number", "national_id", "phone")}
    candidates["email"] = [v for v in present if "@" in v]
    matchers = dict(VALUE_MATCHERS)
    if people:
        candidates["person_name"] = [v for v in present if " " in v and v[0].isupper()]
        matchers["person_name"] = is_person_name
    return {
        kind: sum(map(match, candidates[kind])) / len(present)
        for kind, match in matchers.items()
        if kind == named or len(candidates[kind]) >= MIN_SHARE * len(present)
    }


def detect(
    columns: Sequence[ColumnInfo],
    samples: Mapping[str, Sequence[str] | pa.Array],
    screened: Mapping[str, Screen] | None = None,
) -> list[PiiColumn]:
    """Every column holding PII, in column order; `samples` holds values of the sampled columns."""
    screened = screened or {}
    found = (detect_column(c.name, c.type, samples.get(c.name), screened.get(c.name)) for c in columns)
    return [f for f in found if f is not None]


def sampled_columns(record: DatasetRecord, also: Iterable[str] = ()) -> list[str]:
    """Text and wide integer columns, and `also` those named (keys whose distinct values are
    estimated from the sample); hive partition keys come from directory names, not data."""
    wanted = set(also)
    return [c.name for c in record.columns
            if (c.type in SAMPLED_TYPES or c.name in wanted) and c.name not in record.partition_keys]


class Sampler:
    """Reads up to `limit` values per sampled column of each record, as pyarrow string arrays.

    One LIMIT read of one file per file-based dataset: a landing zone's last
    batch (the most recent messages), else the dataset's first file in sorted
    order; parquet through pyarrow's reader (its first record batch of the
    sampled columns, cheaper than a DuckDB query per file, and than one DuckDB
    query over many files, measured); CSV and JSON through one DuckDB
    connection shared by a source's datasets. DuckDB tables: one LIMIT query through one read-only connection per database
    file. Other formats (workbooks, remote objects, servers) give no sample.
    Nulls are dropped; `rows` of a sample is how many rows were read.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self._connections: dict[str, duckdb.DuckDBPyConnection] = {}

    def __enter__(self) -> Sampler:
        return self

    def __exit__(self, *exc: object) -> None:
        for con in self._connections.values():
            con.close()
        self._connections.clear()

    def sample(self, record: DatasetRecord, names: list[str]) -> Sample:
        local = "://" not in record.location
        if not names or self.limit <= 0 or not local or record.format not in _SAMPLED_FORMATS:
            return Sample(0, {})
        try:
            if record.format == "duckdb_table":
                return self._table(record, names)
            path = _sample_file(record)
            if path is None:
                return Sample(0, {})
            return self._parquet(path, names) if record.format == "parquet" else self._text(record, path, names)
        except (duckdb.Error, OSError, pa.ArrowException) as e:
            raise DiscoveryError(
                f"source {record.source!r}: cannot sample {record.dataset_name} for PII ({first_line(e)})",
                file=record.location,
            ) from None

    def _parquet(self, path: Path, names: list[str]) -> Sample:
        # pyarrow's reader itself: `pq.ParquetFile` maps every nested column path in Python first.
        reader = ParquetReader()
        reader.open(str(path), pre_buffer=False)
        schema = reader.metadata.schema
        flat = {schema.column(i).path: i for i in range(len(schema)) if "." not in schema.column(i).path}
        present = [n for n in names if n in flat]
        if not present or reader.metadata.num_row_groups == 0:
            return Sample(0, {})
        batch = next(reader.iter_batches(self.limit, [0], [flat[n] for n in present], False), None)
        if batch is None:
            return Sample(0, {})
        return Sample(batch.num_rows, {name: _text(batch.column(name)) for name in present})

    def _text(self, record: DatasetRecord, path: Path, names: list[str]) -> Sample:
        # SELECT *: one file of a landing zone may lack a field later batches added.
        con = self._connection(None)
        reader = _TEXT_READERS[record.format]
        rows = con.execute(f"SELECT * FROM {reader}(?) LIMIT ?", [str(path), self.limit]).fetchall()
        positions = {d[0]: i for i, d in enumerate(con.description)}
        return Sample(len(rows), {
            name: strings([str(row[positions[name]]) for row in rows if row[positions[name]] is not None])
            for name in names if name in positions
        })

    def _table(self, record: DatasetRecord, names: list[str]) -> Sample:
        select = ", ".join(f"CAST({_quote(n)} AS VARCHAR)" for n in names)
        schema, table = (record.table or "").split(".", 1)
        rows = self._connection(record.location).execute(
            f"SELECT {select} FROM {_quote(schema)}.{_quote(table)} LIMIT ?", [self.limit]
        ).fetchall()
        return Sample(len(rows), {
            name: strings([row[i] for row in rows if row[i] is not None])
            for i, name in enumerate(names)
        })

    def _connection(self, database: str | None) -> duckdb.DuckDBPyConnection:
        key = database or ":memory:"
        if key not in self._connections:
            self._connections[key] = duckdb.connect(database, read_only=True) if database else duckdb.connect()
        return self._connections[key]


@dataclass(frozen=True)
class Sample:
    rows: int  # rows read
    values: dict[str, pa.Array]  # the non-null values of each sampled column, as text


def _text(column: pa.Array) -> pa.Array:
    return pc.cast(column.drop_null(), pa.large_string())


def _sample_file(record: DatasetRecord) -> Path | None:
    """The file itself; for a `<dir>/**/*<suffix>` glob, a landing zone's last batch or the first file."""
    location = Path(record.location)
    if "*" not in location.name:
        return location
    directory, suffix = location.parent.parent, location.name.removeprefix("*")
    if record.stream_position is not None and (directory / record.stream_position.last).is_file():
        return directory / record.stream_position.last
    return _first_below(directory, suffix)


def _first_below(directory: Path, suffix: str) -> Path | None:
    for entry in sorted(directory.iterdir()):
        if entry.name.startswith((".", "_")):
            continue
        if entry.is_file() and entry.name.endswith(suffix):
            return entry
        if entry.is_dir() and (found := _first_below(entry, suffix)) is not None:
            return found
    return None


def _quote(identifier: str) -> str:
    """Quote a catalog identifier (a column or table name the scan found, not user text)."""
    return '"' + identifier.replace('"', '""') + '"'
