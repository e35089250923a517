#!/usr/bin/env python3
"""Test-only JWT minting for the authz-policy conformance suite.

Uses only the Python standard library and the `openssl` CLI.

  gen_token.py jwks                      print the public JWK Set (kids conf-rsa, conf-ec)
  gen_token.py token [options] CLAIMS    print a signed compact JWT

CLAIMS is a JSON object (the payload, written exactly as given, so claim types are kept).
Options for `token`:
  --key rsa|ec        signing key (default rsa): rsa.pem with RS256, ec.pem with ES256
  --kid KID           header kid (default conf-rsa / conf-ec); --no-kid omits it
  --header JSON       extra header members merged over the default {"alg","typ","kid"}
  --bad-sig           flip one bit of the signature (a token with a wrong signature)
  --raw               use CLAIMS byte for byte as the payload, unparsed (so a member can
                      be named twice)
"""
import base64
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
KEYS = {"rsa": ("rsa.pem", "RS256", "conf-rsa"), "ec": ("ec.pem", "ES256", "conf-ec")}


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def openssl(*args: str, data: bytes = b"") -> bytes:
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=True).stdout


def der_ecdsa_to_raw(der: bytes, size: int = 32) -> bytes:
    """DER SEQUENCE { INTEGER r, INTEGER s } -> r || s, each left-padded to `size` bytes."""
    assert der[0] == 0x30
    i = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)
    out = b""
    for _ in range(2):
        assert der[i] == 0x02
        n = der[i + 1]
        v = der[i + 2 : i + 2 + n].lstrip(b"\x00")
        out += v.rjust(size, b"\x00")
        i += 2 + n
    return out


def jwks() -> dict:
    rsa_pem = os.path.join(HERE, "rsa.pem")
    modulus = openssl("rsa", "-in", rsa_pem, "-noout", "-modulus").decode().strip().split("=", 1)[1]
    n = bytes.fromhex(modulus)
    # The exponent is openssl's default, 65537.
    rsa = {"kty": "RSA", "kid": "conf-rsa", "alg": "RS256", "use": "sig", "n": b64u(n), "e": "AQAB"}
    spki = openssl("pkey", "-in", os.path.join(HERE, "ec.pem"), "-pubout", "-outform", "DER")
    point = spki[-65:]  # uncompressed point 04 || x || y ends the SubjectPublicKeyInfo
    assert point[0] == 4
    ec = {"kty": "EC", "kid": "conf-ec", "alg": "ES256", "use": "sig", "crv": "P-256",
          "x": b64u(point[1:33]), "y": b64u(point[33:])}
    return {"keys": [rsa, ec]}


def token(claims, key: str = "rsa", kid=None, no_kid=False, extra_header=None, bad_sig=False) -> str:
    pem, alg, default_kid = KEYS[key]
    header = {"alg": alg, "typ": "JWT"}
    if not no_kid:
        header["kid"] = kid or default_kid
    header.update(extra_header or {})
    payload = claims if isinstance(claims, str) else json.dumps(claims, separators=(",", ":"))
    signing_input = (b64u(json.dumps(header, separators=(",", ":")).encode()) + "." +
                     b64u(payload.encode()))
    with tempfile.NamedTemporaryFile() as f:
        f.write(signing_input.encode())
        f.flush()
        sig = openssl("dgst", "-sha256", "-sign", os.path.join(HERE, pem), f.name)
    if key == "ec":
        sig = der_ecdsa_to_raw(sig)
    if bad_sig:
        sig = bytes([sig[0] ^ 1]) + sig[1:]
    return signing_input + "." + b64u(sig)


def main(argv):
    if argv[:1] == ["jwks"]:
        print(json.dumps(jwks(), indent=2))
        return
    if argv[:1] != ["token"]:
        sys.exit(__doc__)
    args, opts = argv[1:], {}
    while args and args[0].startswith("--"):
        a = args.pop(0)
        if a == "--key":
            opts["key"] = args.pop(0)
        elif a == "--kid":
            opts["kid"] = args.pop(0)
        elif a == "--no-kid":
            opts["no_kid"] = True
        elif a == "--header":
            opts["extra_header"] = json.loads(args.pop(0))
        elif a == "--bad-sig":
            opts["bad_sig"] = True
        elif a == "--raw":
            opts["raw"] = True
        else:
            sys.exit(f"unknown option {a}")
    claims = args[0] if opts.pop("raw", False) else json.loads(args[0])
    print(token(claims, **opts))


if __name__ == "__main__":
    main(sys.argv[1:])
