"""pycape 3.1.1's interface on this SDK: a pycape program switches by changing its import.

::

    from enclave_sdk.cape import Cape          # was: from pycape import Cape

    cape = Cape(url="wss://enclave.example")
    f = cape.function("alice/echo", checksum="<64 hex>")
    cape.connect(f, "token", pcrs={"0": ["<PCR0 hex>"], "1": ["<PCR1 hex>"], "2": ["<PCR2 hex>"]})
    print(cape.invoke(b"hello"))
    cape.close()

The connection speaks Cape's protocol (``Client.connect_cape``), so it reaches the enclaves pycape
reaches, and the enclave's document is verified by this SDK: the signature and chain to the pinned
root (AWS Nitro Enclaves Root-G1 unless ``root_pem=`` says otherwise), every PCR of one allowed set,
debug mode refused, the document's age, the nonce, the function checksum. Where pycape allowed
something this SDK refuses, the call raises instead:

- No pinned PCR. pycape connected to any enclave when ``pcrs`` was None. Here the pins come from
  ``pcrs=``, from ``Cape(policy=...)``, or from the environment (``ENCLAVE_POLICY``, or
  ``ENCLAVE_PCRS`` with ``ENCLAVE_ROOT_PEM`` and ``ENCLAVE_FUNCTION_CHECKSUM``), and they must pin the
  image (PCR0, PCR2 or PCR8); otherwise :class:`~enclave_sdk.PolicyError` (kind
  ``image_not_pinned``). A checksum alone is the enclave's own claim and is refused the same way.
- Several allowed values for one PCR. pycape accepted any combination of them, so a document could
  mix two releases. Here each ``pcrs`` list holds one value; allow two releases with
  ``Cape(policy=Policy(measurements=[release_1, release_2]))``.
- ``wss://`` without a certificate authority for the enclave's TLS certificate: Cape's results return
  under TLS alone. The system's CA store is used as pycape uses it (``SSL_CERT_FILE`` included);
  ``tls_root=`` adds one.

Refusals raise this SDK's exceptions (:class:`~enclave_sdk.AttestationError` and the others), not
pycape's ``RuntimeError``/``Exception``. As in pycape, each method blocks when called outside an event
loop and returns an awaitable when called inside one. ``encrypt`` and ``key`` (Cape's key service) are
not provided.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import pathlib
import ssl
import urllib.parse
from typing import Any, Callable, Dict, List, Optional, TypeVar, Union

from . import _native
from ._native import Client, Policy, PolicyError

__all__ = ["Cape", "FunctionRef", "Token"]

_logger = logging.getLogger("enclave_sdk.cape")

_DEFAULT_HOST = "https://app.capeprivacy.com"

T = TypeVar("T")


def _sync_or_async(method: Callable[..., T]) -> Callable[..., Any]:
    """Runs `method` now when no event loop runs in this thread; inside one, returns an awaitable that
    runs it on the default executor (the SDK releases the GIL while it waits), as pycape's
    synchronicity wrapper lets callers `await` the same methods."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None:
            return method(*args, **kwargs)
        return loop.run_in_executor(None, functools.partial(method, *args, **kwargs))

    return wrapper


class Token:
    """A Cape personal access token, sent in the upgrade as pycape sends it."""

    def __init__(self, token: str):
        self._token = token

    @property
    def token(self) -> str:
        return self._token

    @property
    def raw(self) -> str:
        return self._token

    def to_disk(self, location: Union[str, os.PathLike]) -> None:
        """Writes the token to `location`."""
        with open(location, "w") as f:
            f.write(self._token)

    @classmethod
    def from_disk(cls, location: Union[str, os.PathLike]) -> "Token":
        """Reads a token from `location`."""
        path = pathlib.Path(location)
        if not path.exists():
            raise ValueError(f"Token file not found at {path}.")
        return cls(path.read_text())

    def __repr__(self) -> str:
        return "Token(<hidden>)"


class FunctionRef:
    """A deployed Cape function: its id, or its name ``user/function``, and optionally its checksum
    (hex), which the enclave's document must then claim."""

    def __init__(self, id: Optional[str] = None, name: Optional[str] = None, checksum: Optional[str] = None):
        if id is None and name is None:
            raise ValueError("Must provide one of `id` or `name` arguments, found None for both.")
        if id is not None and not isinstance(id, str):
            raise TypeError(f"Function id must be a string, found {type(id)}.")
        self._id = id
        self._user: Optional[str] = None
        self._name: Optional[str] = None
        if name is not None:
            if not isinstance(name, str):
                raise TypeError(f"Function name must be a string, found {type(name)}.")
            parts = name.split("/")
            if len(parts) != 2:
                raise ValueError(f"Function name must be of form '<username>/<function_name>', found '{name}'.")
            self._user, self._name = parts
        if checksum is not None and not isinstance(checksum, str):
            raise TypeError(f"Function checksum must be a string, found {type(checksum)}.")
        self._checksum = checksum

    @property
    def id(self) -> Optional[str]:
        return self._id

    @property
    def checksum(self) -> Optional[str]:
        return self._checksum

    @property
    def user(self) -> Optional[str]:
        return self._user

    @property
    def name(self) -> Optional[str]:
        return self._name

    @property
    def full_name(self) -> Optional[str]:
        if self._user is not None and self._name is not None:
            return f"{self._user}/{self._name}"
        return None

    def _address(self) -> str:
        """What follows /v1/run/ in the URL, as pycape addresses it: the id if given, else the name."""
        return self._id if self._id is not None else f"{self._user}/{self._name}"

    def _pin_name(self) -> str:
        """The function id the checksum pin is kept under (the SDK looks Cape pins up by name)."""
        return self._name if self._name is not None else self._address()

    @classmethod
    def from_json(cls, function_json: Union[str, os.PathLike]) -> "FunctionRef":
        """From a JSON string or file with ``function_id`` and/or ``function_name``, and optionally
        ``function_checksum``."""
        if isinstance(function_json, pathlib.Path):
            if not function_json.exists():
                raise ValueError(f"JSON file not found @ {function_json}")
            config = json.loads(function_json.read_text())
        elif isinstance(function_json, str):
            path = pathlib.Path(function_json)
            config = json.loads(path.read_text()) if _is_file(path) else json.loads(function_json)
        else:
            raise TypeError(f"The function_json argument expects a json string or a path, found: {type(function_json)}.")
        function_id = config.get("function_id")
        function_name = config.get("function_name")
        if function_id is None and function_name is None:
            raise ValueError("Function JSON must have either function_id or function_name values, found neither.")
        if config.get("function_token") is not None:
            _logger.warning("Ignoring function_token in FunctionRef json: pass a personal access token instead.")
        return cls(function_id, function_name, config.get("function_checksum"))

    def to_json(self, path: Optional[Union[str, os.PathLike]] = None) -> Optional[str]:
        """As JSON text, or written to `path`."""
        out: Dict[str, str] = {}
        if self._id is not None:
            out["function_id"] = self._id
        if self.full_name is not None:
            out["function_name"] = self.full_name
        if self._checksum is not None:
            out["function_checksum"] = self._checksum
        if path is None:
            return json.dumps(out)
        with open(path, "w") as f:
            json.dump(out, f)
        return None

    def __repr__(self) -> str:
        return f"FunctionRef(name={self.full_name}, id={self._id}, checksum={self._checksum})"


def _is_file(path: pathlib.Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a JSON text too long to be a file name
        return False


def _websocket_url(url: str) -> str:
    """pycape's URL rule: https becomes wss, http becomes ws."""
    parsed = urllib.parse.urlparse(url)
    scheme = {"https": "wss", "http": "ws"}.get(parsed.scheme, parsed.scheme)
    return parsed._replace(scheme=scheme).geturl().rstrip("/")


_ENV_PINS = ("ENCLAVE_POLICY", "ENCLAVE_PCRS")


def _one_set(pcrs: Dict[Any, Any]) -> Dict[int, str]:
    """pycape's `pcrs` (index -> list of allowed values) as one measurement set. Several values for
    one index are refused: pycape accepted any combination of them, which lets a document mix two
    releases."""
    out: Dict[int, str] = {}
    for key, values in pcrs.items():
        if isinstance(values, (str, bytes)):
            values = [values]
        values = list(values)
        if len(values) != 1:
            err = PolicyError(
                f"pcrs[{key!r}] lists {len(values)} values; pycape accepted any combination of per-PCR values, "
                "which lets a document mix two releases. Give one value per PCR, and allow each release whole "
                "with Cape(policy=Policy(measurements=[release_1, release_2]))"
            )
            err.kind = "per_index_allow_list"
            raise err
        value = values[0]
        out[int(key)] = value.hex() if isinstance(value, bytes) else value
    return out


class Cape:
    """pycape's ``Cape`` client on this SDK (see the module documentation for what differs).

    Args:
        url: the Cape host; default ``$CAPE_ENCLAVE_HOST`` or pycape's default. ``https``/``http``
            become ``wss``/``ws``.
        verbose: debug logging for the ``enclave_sdk.cape`` logger.
        policy: pins to use when ``connect``/``run`` get no ``pcrs`` (else the environment's).
        root_pem: the attestation trust root (PEM); default AWS Nitro Enclaves Root-G1.
        tls_root: a CA certificate (PEM or DER) the enclave's TLS certificate must chain to on
            ``wss://``; default the system's store, as pycape.
    """

    def __init__(
        self,
        url: Optional[str] = None,
        verbose: bool = False,
        *,
        policy: Optional[Policy] = None,
        root_pem: Optional[Union[str, bytes]] = None,
        tls_root: Optional[Union[str, bytes, List[Union[str, bytes]]]] = None,
    ):
        self._url = _websocket_url(url or os.environ.get("CAPE_ENCLAVE_HOST") or _DEFAULT_HOST)
        self._policy = policy
        # pycape's attribute for the attestation root (PEM bytes); tests and tools set it directly.
        self._root_cert: Optional[Union[str, bytes]] = root_pem
        self._tls_root = tls_root
        self._session: Optional[_native.CapeSession] = None
        if verbose:
            _logger.setLevel(logging.DEBUG)

    def function(
        self, identifier: Union[str, os.PathLike, FunctionRef], *, checksum: Optional[str] = None
    ) -> FunctionRef:
        """A :class:`FunctionRef` from a JSON file path, a ``user/name``, a 22-character function id, or
        a FunctionRef (to which `checksum` is added)."""
        if isinstance(identifier, pathlib.Path):
            return FunctionRef.from_json(identifier)
        if isinstance(identifier, str):
            if _is_file(pathlib.Path(identifier)):
                return FunctionRef.from_json(pathlib.Path(identifier))
            if len(identifier.split("/")) == 2:
                return FunctionRef(id=None, name=identifier, checksum=checksum)
            if len(identifier) == 22:
                return FunctionRef(id=identifier, name=None, checksum=checksum)
        if isinstance(identifier, FunctionRef):
            if checksum is None or checksum == identifier.checksum:
                return identifier
            if identifier.checksum is None:
                return FunctionRef(id=identifier.id, name=identifier.full_name, checksum=checksum)
            raise ValueError("Checksum mismatch: given `checksum` argument conflicts with given FunctionRef's checksum.")
        raise ValueError(f"Unrecognized form of `identifier` argument: {identifier}.")

    def token(self, token: Union[str, os.PathLike, Token]) -> Token:
        """A :class:`Token` from a token file or the token text."""
        if isinstance(token, Token):
            return token
        if isinstance(token, pathlib.Path):
            return Token.from_disk(token)
        if isinstance(token, str):
            if len(token) <= 255 and _is_file(pathlib.Path(token)):
                return Token(pathlib.Path(token).read_text())
            return Token(token)
        raise TypeError(f"Expected token to be PathLike or str, found {type(token)}")

    def _policy_for(self, ref: FunctionRef, pcrs: Optional[Dict[Any, Any]]) -> Policy:
        """The policy this connection is verified against; the SDK's builder decides what suffices."""
        root = self._root_cert
        if isinstance(root, bytes):
            root = root.decode("ascii", errors="replace")
        if pcrs is not None:
            checksums = {ref._pin_name(): ref.checksum} if ref.checksum is not None else None
            return Policy(measurements=[_one_set(pcrs)], root_pem=root, function_checksums=checksums)
        if self._policy is not None:
            base = self._policy
        elif any(os.environ.get(name) for name in _ENV_PINS):
            base = Policy.from_env()
        else:
            err = PolicyError(
                "no PCR is pinned: pycape connected to any enclave when pcrs was None; enclave_sdk.cape needs "
                "pcrs={'0': [<PCR0 hex>], ...} pinning PCR0, PCR2 or PCR8, or Cape(policy=...), or ENCLAVE_POLICY "
                "or ENCLAVE_PCRS in the environment"
            )
            err.kind = "image_not_pinned"
            raise err
        if ref.checksum is not None:
            # The pin itself is the policy's (checked by the SDK); a FunctionRef's checksum that the
            # policy does not carry must not be dropped silently.
            pinned = base.function_checksums.get(ref._pin_name(), base.function_checksum)
            if pinned is None or pinned.lower() != ref.checksum.lower():
                err = PolicyError(
                    f"the FunctionRef's checksum {ref.checksum} is not the one the policy pins for "
                    f"{ref._pin_name()} ({pinned}); pin it in the policy ([functions] or "
                    "ENCLAVE_FUNCTION_CHECKSUM), or pass pcrs= to build the policy from this call"
                )
                err.kind = "checksum_conflict"
                raise err
        return base

    def _tls_roots(self) -> Optional[List[bytes]]:
        if self._tls_root is not None:
            return self._tls_root if isinstance(self._tls_root, list) else [self._tls_root]
        if not self._url.startswith("wss://"):
            return None
        # pycape trusts what ssl.create_default_context() trusts: OpenSSL's default CA file
        # (SSL_CERT_FILE when set). Read here, since ssl lists only the CA-flagged certificates it
        # loaded, and a self-signed server certificate made a trust anchor is not one.
        cafile = ssl.get_default_verify_paths().cafile
        if not cafile:
            return None
        with open(cafile) as f:
            text = f.read()
        end = "-----END CERTIFICATE-----"
        blocks = [b[b.index("-----BEGIN CERTIFICATE-----"):] + end for b in text.split(end)
                  if "-----BEGIN CERTIFICATE-----" in b]
        return blocks or None

    def _connect(self, function_ref: Union[str, os.PathLike, FunctionRef], token: Union[str, os.PathLike, Token],
                 pcrs: Optional[Dict[Any, Any]] = None) -> None:
        ref = self.function(function_ref)
        tok = self.token(token)
        policy = self._policy_for(ref, pcrs)
        client = Client(self._url, policy, token=tok.raw or None, tls_root=self._tls_roots())
        if self._session is not None:
            self._close()
        _logger.debug("connecting to %s/v1/run/%s", self._url, ref._address())
        self._session = client.connect_cape(ref._address())

    def _invoke(self, *args: Any, serde_hooks: Any = None, use_serdio: bool = False, **kwargs: Any) -> Any:
        if self._session is None:
            raise RuntimeError("not connected: call Cape.connect first")
        encoder = decoder = None
        if serde_hooks is not None:
            serdio = _serdio()
            encoder, decoder = serdio.bundle_serde_hooks(serde_hooks).unbundle()
            use_serdio = True
        if use_serdio:
            data = _serdio().serialize(*args, encoder=encoder, **kwargs)
        elif len(args) == 1 and not kwargs:
            data = args[0]
        elif not args and len(kwargs) == 1:
            data = next(iter(kwargs.values()))
        else:
            raise ValueError(f"Expected a single input of type 'bytes' when use_serdio=False. Found: args: {args} "
                             f"kwargs: {kwargs}")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"The input type is: {type(data)}. Provide input as bytes or set use_serdio=True.")
        out = self._session.invoke(bytes(data))
        return _serdio().deserialize(out, decoder=decoder) if use_serdio else out

    def _close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.close()

    def _run(self, function_ref: Union[str, os.PathLike, FunctionRef], token: Union[str, os.PathLike, Token],
             *args: Any, pcrs: Optional[Dict[Any, Any]] = None, serde_hooks: Any = None, use_serdio: bool = False,
             **kwargs: Any) -> Any:
        self._connect(function_ref, token, pcrs)
        try:
            return self._invoke(*args, serde_hooks=serde_hooks, use_serdio=use_serdio, **kwargs)
        finally:
            self._close()

    @_sync_or_async
    def connect(self, function_ref: Union[str, os.PathLike, FunctionRef], token: Union[str, os.PathLike, Token],
                pcrs: Optional[Dict[str, List[str]]] = None) -> None:
        """Connects to the enclave hosting `function_ref` and verifies it; nothing is sent before the
        document verified. `pcrs`: ``{"0": ["<hex>"], ...}``, one value per PCR."""
        self._connect(function_ref, token, pcrs)

    @_sync_or_async
    def invoke(self, *args: Any, serde_hooks: Any = None, use_serdio: bool = False, **kwargs: Any) -> Any:
        """Invokes the connected function on one ``bytes`` argument (or serdio-encoded arguments with
        ``use_serdio=True``; needs the ``serdio`` package) and returns its output."""
        return self._invoke(*args, serde_hooks=serde_hooks, use_serdio=use_serdio, **kwargs)

    @_sync_or_async
    def run(self, function_ref: Union[str, os.PathLike, FunctionRef], token: Union[str, os.PathLike, Token],
            *args: Any, pcrs: Optional[Dict[str, List[str]]] = None, serde_hooks: Any = None,
            use_serdio: bool = False, **kwargs: Any) -> Any:
        """connect + invoke + close."""
        return self._run(function_ref, token, *args, pcrs=pcrs, serde_hooks=serde_hooks, use_serdio=use_serdio,
                         **kwargs)

    @_sync_or_async
    def close(self) -> None:
        """Closes the current enclave connection."""
        self._close()

    def function_context(self, function_ref: Union[str, os.PathLike, FunctionRef],
                         token: Union[str, os.PathLike, Token],
                         pcrs: Optional[Dict[str, List[str]]] = None) -> "_FunctionContext":
        """A context manager (``with`` or ``async with``) that connects, and closes on exit."""
        return _FunctionContext(self, function_ref, token, pcrs)

    def encrypt(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("Cape.encrypt (Cape's key service) is not provided by enclave_sdk.cape")

    def key(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("Cape.key (Cape's key service) is not provided by enclave_sdk.cape")


class _FunctionContext:
    def __init__(self, cape: Cape, function_ref: Any, token: Any, pcrs: Any):
        self._cape, self._args = cape, (function_ref, token, pcrs)

    def __enter__(self) -> None:
        self._cape._connect(*self._args)

    def __exit__(self, *exc: Any) -> None:
        self._cape._close()

    async def __aenter__(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, lambda: self._cape._connect(*self._args))

    async def __aexit__(self, *exc: Any) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._cape._close)


def _serdio() -> Any:
    try:
        import serdio
    except ImportError as e:
        raise ImportError("use_serdio=True needs Cape's serdio package: pip install serdio") from e
    return serdio
