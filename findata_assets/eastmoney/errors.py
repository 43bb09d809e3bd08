"""Errors of the Eastmoney client.

Two families: problems worth retrying (a flaky response: `BadResponseError`) and problems a retry
cannot fix (the API changed shape, a value is garbage, the budget is spent). Every message names
the table so an operator knows where to look without reading a traceback.
"""

from __future__ import annotations


class EastmoneyError(Exception):
    """Base of everything the client raises on purpose."""


class BadResponseError(EastmoneyError):
    """A response that is broken this time (rc != 0, data null, not JSON, truncated): retried."""


class DeadlineExceededError(BadResponseError):
    """No complete answer (connect, headers and the whole body) within the page's deadline: a
    stalled or trickling connection, cut off and retried like any broken response."""

    def __init__(self, seconds: float, configured_s: float):
        self.seconds = seconds
        if seconds >= configured_s:
            text = (f"no complete answer within the page deadline of {configured_s:g} s "
                    "(FINDATA_EASTMONEY_PAGE_DEADLINE_S)")
        else:
            text = (f"no complete answer within {seconds:.1f} s while other pages answer in "
                    f"time: a stalled connection (FINDATA_EASTMONEY_PAGE_DEADLINE_S="
                    f"{configured_s:g} s applies when every page is slow)")
        super().__init__(text)


class SchemaDriftError(EastmoneyError):
    """The API answered, but not in the shape we know: a required field or envelope key is gone.

    Not retried: the next answer will look the same, and guessing would store silent NULLs.
    """

    def __init__(self, table: str, field: str, detail: str = ""):
        self.table = table
        self.field = field
        self.detail = detail
        msg = f"schema drift in {table}: field {field!r} missing or malformed"
        super().__init__(f"{msg} ({detail})" if detail else msg)


class ValueParseError(EastmoneyError, ValueError):
    """A value that is neither a number nor the API's "-" for unknown (e.g. "abc")."""

    def __init__(self, table: str, code: str, field: str, value: object):
        self.table, self.code, self.field, self.value = table, code, field, value
        super().__init__(f"{table}: cannot parse field {field!r} of row {code!r}: {value!r} "
                         "is not a number (or '-')")


class IncompleteTableError(EastmoneyError):
    """Paging did not yield exactly `total` distinct codes, even after refetching the group."""

    def __init__(self, table: str, expected: int, got: int, attempts: int = 1):
        self.table, self.expected, self.got, self.attempts = table, expected, got, attempts
        self.missing = expected - got
        gap = (f"{self.missing} rows missing" if self.missing >= 0
               else f"{-self.missing} rows more than the total")
        super().__init__(f"{table}: incomplete after {attempts} fetch(es): the API counts "
                         f"{expected} rows, got {got} distinct codes ({gap})")


class RetriesExhaustedError(EastmoneyError):
    """A request kept failing with retryable errors until the attempt budget ran out."""

    def __init__(self, url: str, table: str, attempts: int, last_error: BaseException | str):
        self.url, self.table, self.attempts, self.last_error = url, table, attempts, last_error
        super().__init__(f"{table}: GET {url} failed after {attempts} attempts; "
                         f"last error: {last_error}")


class EndpointError(EastmoneyError):
    """The configured endpoint is not the API: a wrong path (404), an unknown host, a refused
    connection, a page that is not the clist JSON. Permanent: failing at once, naming the setting,
    beats minutes of retries against a URL that will never answer."""

    def __init__(self, setting: str, url: str, problem: str, expected: str):
        self.setting, self.url, self.problem = setting, url, problem
        advice = (f"check {setting} (it should look like {expected})" if url != expected else
                  f"{setting} is unset or the default: check this machine's network and DNS, "
                  "or point it at a reachable endpoint")
        super().__init__(f"{problem} at {url}: {advice}")


class NotTheApiError(EastmoneyError):
    """A body that is not the clist envelope at all (an HTML page, another service's JSON)."""


class EmptyTermError(IncompleteTableError):
    """A board term answered `data: null` (nothing selected) while the API's own total for the
    market says that rows are missing from the union of the other terms."""

    def __init__(self, table: str, expected: int, got: int, attempts: int, terms: list[str]):
        self.terms = terms
        IncompleteTableError.__init__(self, table, expected, got, attempts)
        self.args = (f"{table}: term {', '.join(terms)} answered data: null (nothing selected) "
                     f"after {attempts} fetch(es), but the API counts {expected} rows for the "
                     f"market and the other terms give {got}: {expected - got} rows missing",)

    def __str__(self) -> str:
        return self.args[0]


class UnparsableColumnError(EastmoneyError):
    """More than a small share of one column is garbage: not a stray cell but a changed API."""

    def __init__(self, table: str, column: str, field: str, bad: int, rows: int, examples: list):
        self.table, self.column, self.field, self.bad, self.rows = table, column, field, bad, rows
        shown = ", ".join(f"{code}={raw!r}" for code, raw in examples)
        super().__init__(f"{table}: column {column} ({field}) is unparsable in {bad} of {rows} "
                         f"rows (e.g. {shown}); refusing to store a column of NULLs")


class TradeDateError(EastmoneyError):
    """The data's own date is not a trading day: storing it would file rows under a wrong date."""


class NoSuchSecurityError(EastmoneyError):
    """The daily history endpoint answered `rc != 0` or `data: null`: the source has no such
    security (an unknown or wrongly prefixed secid, an old Beijing code). Not retried, and about
    this one security only: the run goes on with the others."""

    def __init__(self, secid: str, rc: object = 0):
        self.secid, self.rc = secid, rc
        super().__init__(f"{secid}: the source has no such security (rc={rc!r}, data: null)")


class HistorySchemaError(SchemaDriftError):
    """A daily history answer in a shape we do not know (no `data` key, no `klines` list)."""

    def __init__(self, secid: str, field: str, detail: str = ""):
        self.secid = secid
        super().__init__(f"the daily history of {secid}", field, detail)


class KlineLineError(EastmoneyError, ValueError):
    """One line of a daily history is unreadable (field count, date, number) or out of order.
    About this security's answer only; the message quotes the line, shortened."""

    def __init__(self, secid: str, index: int, line: object, problem: str):
        self.secid, self.index, self.line, self.problem = secid, index, line, problem
        shown = repr(line)
        if len(shown) > 90:
            shown = shown[:87] + "..."
        super().__init__(f"{secid}: daily history line {index + 1} {problem}: {shown}")


# A retry cannot fix these: the next answer has the same shape, the URL stays wrong, the date
# stays a holiday. Everything else the client raises may pass with time.
class CertificateSettingError(EastmoneyError):
    """SSL_CERT_FILE / SSL_CERT_DIR name CA certificates that cannot be loaded: no request can
    be verified, so none is sent. Permanent: a retry reads the same files."""


PERMANENT = (SchemaDriftError, ValueParseError, EndpointError, UnparsableColumnError,
             TradeDateError, CertificateSettingError)
