"""Types of the compiled part of enclave_sdk (the Rust SDK, bound with PyO3)."""

import datetime
import os
from typing import IO, Any, Awaitable, Callable, Dict, List, Mapping, Optional, Sequence, Union, final

__version__: str

_Bytes = Union[bytes, bytearray, memoryview]
_PcrValue = Union[str, bytes]
_MeasurementSet = Union[str, Mapping[Union[int, str], _PcrValue]]
_Certificate = Union[str, bytes]

class EnclaveError(Exception):
    """Every error the SDK raises. The message is the Rust error's text (attacker text escaped)."""

    kind: str
    """The condition, snake_case: ``pcr_not_allowed``, ``plaintext_transport``, ``handshake_timeout`` ..."""

class ConfigError(EnclaveError):
    """The SDK was configured with something unusable (endpoint, token, function id, environment)."""

class PolicyError(ConfigError):
    """The policy cannot be built. ``kind`` ``image_not_pinned`` (with ``set``, ``pins``, ``zeroed``,
    ``checksum_pinned``) when it does not pin the image; ``invalid`` (with ``line``, ``column``,
    ``key``) for a policy file that does not parse; a parse error's kind for a pin that does not."""

    set: Optional[int]
    pins: List[int]
    zeroed: List[int]
    checksum_pinned: bool
    line: int
    column: int
    key: Optional[str]

class ConnectError(EnclaveError):
    """The enclave could not be reached, or refused before attesting (``status`` for kind ``http``)."""

    status: int

class AttestationError(EnclaveError):
    """The document was refused; nothing of the input was sent.

    ``check`` names the failed check (``pcr_not_allowed``, ``measurements_not_allowed``, ``debug_mode``,
    ``chain``, ``cose``, ``checksum_mismatch``, ``nonce_mismatch``, ``stale`` ...), ``detail`` the inner
    reason of ``chain``/``cose``/``document``/``user_data`` failures (e.g. ``unknown_root``,
    ``expired``), and ``values`` what the check compared; each value is also an attribute (``index``,
    ``found``, ``expected`` in hex for PCRs and checksums ...)."""

    check: str
    detail: Optional[str]
    values: Dict[str, Any]
    index: int
    found: Any
    expected: Any
    mismatches: List[str]
    function_id: Optional[str]
    age_s: int
    max_s: int
    timestamp_ms: int
    now: int

class SessionError(EnclaveError):
    """The session broke (a record failed, the connection ended without an authenticated close), or
    was closed (kind ``closed``)."""

class FunctionError(EnclaveError):
    """The function ran and failed; the session is still usable. ``message`` is the function's own
    text, kept out of ``str(e)`` because a function may echo its input."""

    function_id: str
    code: int
    message: str

class LimitError(EnclaveError):
    """A limit, the client's or the enclave's, was exceeded (timeouts, sizes, invocations in flight)."""

class StreamError(EnclaveError):
    """Reading the source or writing the sink of ``invoke_stream`` failed (``io_kind``)."""

    io_kind: str

@final
class Policy:
    """What the caller trusts. Every way of making one applies the SDK's rule: each allowed measurement
    set pins PCR0, PCR2 or PCR8 to a non-zero value, unless ``accept_any_enclave=True``.

    Example::

        policy = Policy(measurements=["0=<96 hex>,1=<96 hex>,2=<96 hex>"],
                        function_checksums={"echo": "<64 hex>"})
    """

    def __init__(
        self,
        *,
        measurements: Optional[Sequence[_MeasurementSet]] = None,
        root_pem: Optional[_Certificate] = None,
        function_checksum: Optional[_PcrValue] = None,
        function_checksums: Optional[Mapping[str, _PcrValue]] = None,
        max_document_age: Optional[float] = None,
        clock_skew: Optional[float] = None,
        allow_debug: bool = False,
        accept_any_enclave: bool = False,
    ) -> None:
        """``measurements``: the allowed releases, each ``"IDX=HEX,..."`` or ``{index: hex or bytes}``;
        a document must match every PCR of one. ``root_pem``: the trust root (default AWS Nitro Enclaves
        Root-G1). ``function_checksum``: for any function; ``function_checksums``: per function id.
        Ages in seconds. Raises :class:`PolicyError`."""
    @staticmethod
    def from_file(path: Union[str, "os.PathLike[str]"]) -> "Policy":
        """Reads a policy file (TOML, as ``enclave policy check`` validates). Raises :class:`PolicyError`."""
    @staticmethod
    def from_toml(text: str) -> "Policy":
        """Parses a policy file's text. Raises :class:`PolicyError`."""
    @staticmethod
    def from_env() -> "Policy":
        """``ENCLAVE_POLICY``, or ``ENCLAVE_PCRS`` with ``ENCLAVE_ROOT_PEM``, ``ENCLAVE_FUNCTION_CHECKSUM``
        and ``ENCLAVE_ALLOW_DEBUG``, read as the Rust SDK reads them. Raises :class:`ConfigError`."""
    @property
    def measurement_sets(self) -> List[Dict[int, bytes]]:
        """The allowed sets, {index: value}."""
    @property
    def function_checksum(self) -> Optional[str]:
        """The catch-all checksum pin, hex."""
    @property
    def function_checksums(self) -> Dict[str, str]:
        """The per-function checksum pins, {function id: hex}."""
    @property
    def trust_root_sha256(self) -> List[str]:
        """SHA-256 of each trust root's DER, hex."""
    @property
    def max_document_age(self) -> float: ...
    @property
    def clock_skew(self) -> float: ...
    @property
    def allows_debug(self) -> bool: ...
    @property
    def accepts_any_enclave(self) -> bool: ...

@final
class VerifiedDocument:
    """An attestation document whose every check passed."""

    @property
    def module_id(self) -> str: ...
    @property
    def timestamp_ms(self) -> int:
        """When the NSM signed, milliseconds since the Unix epoch."""
    @property
    def digest(self) -> str: ...
    @property
    def pcrs(self) -> Dict[int, bytes]:
        """Every PCR the document carries."""
    @property
    def public_key(self) -> Optional[bytes]: ...
    @property
    def user_data(self) -> Optional[bytes]: ...
    @property
    def nonce(self) -> Optional[bytes]: ...
    @property
    def claimed_checksum(self) -> Optional[str]:
        """The function checksum the user data claims, hex."""
    @property
    def raw(self) -> bytes:
        """The exact bytes that verified."""

def verify(
    document: _Bytes,
    policy: Policy,
    at: Union[None, int, float, datetime.datetime] = None,
    *,
    nonce: Optional[_Bytes] = None,
    function_id: Optional[str] = None,
) -> VerifiedDocument:
    """Verifies a raw (CBOR) attestation document against ``policy`` as of ``at`` (default now):
    COSE signature, chain to the pinned root, measurements, debug mode, age, checksum, and the nonce
    and function id if given. Raises :class:`AttestationError` naming the failed check."""

@final
class Session:
    """An attested, encrypted session with one function. Invocations from several threads or many
    ``invoke_async`` calls pipeline over the one connection. A context manager (sync and async) that
    closes on exit."""

    def invoke(self, data: _Bytes) -> bytes:
        """Runs the function on ``data``; the GIL is released while it waits."""
    def invoke_async(self, data: _Bytes) -> Awaitable[bytes]:
        """As :meth:`invoke`, awaitable; the event loop is never blocked."""
    def invoke_stream(
        self, source: IO[bytes], sink: IO[bytes], progress: Optional[Callable[[int, int], None]] = None
    ) -> int:
        """Streams ``source`` through the function into ``sink`` in bounded memory; returns the output
        bytes written. ``progress(sent, received)`` is called as data moves."""
    def close(self) -> None:
        """Authenticated close, after invocations in flight finish."""
    def close_async(self) -> Awaitable[None]: ...
    @property
    def attestation(self) -> VerifiedDocument:
        """The document this session was opened on."""
    @property
    def function_id(self) -> str: ...
    @property
    def invocations(self) -> int: ...
    @property
    def closed(self) -> bool: ...
    def __enter__(self) -> "Session": ...
    def __exit__(self, *exc: object) -> bool: ...
    async def __aenter__(self) -> "Session": ...
    async def __aexit__(self, *exc: object) -> bool: ...

@final
class CapeSession:
    """A session in Cape's protocol (``Client.connect_cape``): one invocation at a time; results return
    under TLS alone."""

    def invoke(self, data: _Bytes) -> bytes: ...
    def invoke_async(self, data: _Bytes) -> Awaitable[bytes]: ...
    def close(self) -> None: ...
    def close_async(self) -> Awaitable[None]: ...
    @property
    def attestation(self) -> Optional[VerifiedDocument]: ...
    def __enter__(self) -> "CapeSession": ...
    def __exit__(self, *exc: object) -> bool: ...

@final
class Client:
    """Connects to enclaves, verifying each against a :class:`Policy` before sending it anything.

    Example::

        client = Client("wss://enclave.example", Policy.from_file("policy.toml"))
        with client.connect("word-count") as session:
            print(session.invoke(b"one two three"))
    """

    def __init__(
        self,
        url: str,
        policy: Policy,
        *,
        token: Optional[str] = None,
        tls_root: Union[None, _Certificate, List[_Certificate]] = None,
        allow_plaintext: bool = False,
        handshake_timeout: Optional[float] = None,
        idle_timeout: Optional[float] = None,
        max_in_flight: Optional[int] = None,
        max_output_len: Optional[int] = None,
    ) -> None:
        """``url``: ``wss://host[:port]``, or ``ws://`` to loopback (elsewhere only with
        ``allow_plaintext=True``). ``tls_root``: CA certificate(s) the TLS certificate must also chain
        to. Timeouts in seconds. Raises :class:`ConfigError`."""
    @staticmethod
    def from_env() -> "Client":
        """Configured from ``ENCLAVE_URL``, ``ENCLAVE_POLICY`` or ``ENCLAVE_PCRS``, ... (as the Rust SDK)."""
    @property
    def policy(self) -> Policy: ...
    def connect(self, function_id: str) -> Session:
        """Connects, verifies the enclave's document, opens the encrypted session."""
    def connect_async(self, function_id: str) -> Awaitable[Session]: ...
    def connect_cape(self, function: str) -> CapeSession:
        """Connects with Cape's protocol (``name`` or ``user/name``); same verification."""
    def fetch_attestation(self, function_id: str) -> VerifiedDocument:
        """The enclave's document over a fresh nonce, verified; sends no input."""
    def __enter__(self) -> "Client": ...
    def __exit__(self, *exc: object) -> bool: ...

def connect_and_invoke(function_id: str, data: _Bytes) -> bytes:
    """Connects to the enclave the environment names (see :meth:`Client.from_env`), invokes, closes."""

