"""Send data only to a measured AWS Nitro enclave, from Python.

Nothing of your input leaves the process before the enclave has proven, in a document signed through
AWS's certificate chain, that it runs exactly the image and the function your :class:`Policy` pins and
that it answered this connection's fresh nonce; then input and output travel sealed (HPKE) to a key
generated inside that enclave for this one connection. The verification, the protocol and the
cryptography are the Rust SDK's (``enclave-sdk``), compiled into this package.

Example::

    import enclave_sdk as es

    policy = es.Policy(measurements=["0=<PCR0 hex>,1=<PCR1 hex>,2=<PCR2 hex>"],
                       function_checksums={"word-count": "<64 hex>"})
    client = es.Client("wss://enclave.example", policy)
    with client.connect("word-count") as session:   # nonce -> document -> verified -> HPKE
        print(session.invoke(b"one two three"))       # b"3"

Pycape programs switch by changing one import: ``from enclave_sdk.cape import Cape``.
"""

from ._native import (
    AttestationError,
    CapeSession,
    Client,
    ConfigError,
    ConnectError,
    EnclaveError,
    FunctionError,
    LimitError,
    Policy,
    PolicyError,
    Session,
    SessionError,
    StreamError,
    VerifiedDocument,
    __version__,
    connect_and_invoke,
    verify,
)

__all__ = [
    "AttestationError",
    "CapeSession",
    "Client",
    "ConfigError",
    "ConnectError",
    "EnclaveError",
    "FunctionError",
    "LimitError",
    "Policy",
    "PolicyError",
    "Session",
    "SessionError",
    "StreamError",
    "VerifiedDocument",
    "__version__",
    "connect_and_invoke",
    "verify",
]
