"""An echo client written the way pycape 3.1.1's examples are (a token file, `cape.function` by
name, `run`, then `connect`/`invoke`/`close`, then `function_context`), against pycape's API only.
The import is the one line that differs from a pycape program; the host comes from
CAPE_ENCLAVE_HOST as in pycape, the pins from ENCLAVE_POLICY.
"""
import os
import pathlib

from enclave_sdk.cape import Cape  # with pycape: from pycape import Cape

token_file = pathlib.Path(os.environ["TOKEN_FILE"])

cape = Cape()
function_ref = cape.function("examples/echo")
token = cape.token(token_file)

if __name__ == "__main__":
    result = cape.run(function_ref, token, "Welcome to Cape".encode())
    print(f"The result is: {result.decode()}")

    cape.connect(function_ref, token)
    for text in ("Hello Cape", "Hello again"):
        print(f"The result is: {cape.invoke(text.encode()).decode()}")
    cape.close()

    with cape.function_context(function_ref, token):
        print(f"The result is: {cape.invoke('In a context'.encode()).decode()}")
