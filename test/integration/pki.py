"""A throwaway PKI for TLS tests, made with the openssl CLI: CAs, certificates they issue
(EC P-256 keys, quick to make), and certificate revocation lists made by `openssl ca`."""
import subprocess


def openssl(*args, cwd=None):
    subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=cwd)


def make_ca(d, name):
    """A self-signed CA in directory d: {"key", "cert"} paths and its "pem"."""
    key, crt = d / f"{name}.key", d / f"{name}.crt"
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-keyout", str(key), "-out", str(crt))
    return {"key": str(key), "cert": str(crt), "pem": crt.read_text()}


def issue(d, ca, name, san, usage="serverAuth"):
    """A certificate for CN `name` with subjectAltName `san` ("DNS:a,IP:127.0.0.1") issued by
    `ca`: {"key", "cert"} paths, "pem" and "key_pem"."""
    key, csr, crt, ext = (d / f"{name}.{x}" for x in ("key", "csr", "crt", "ext"))
    ext.write_text(f"subjectAltName={san}\nextendedKeyUsage={usage}\n")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", f"/CN={name}",
            "-keyout", str(key), "-out", str(csr))
    openssl("x509", "-req", "-in", str(csr), "-CA", ca["cert"], "-CAkey", ca["key"], "-CAcreateserial",
            "-days", "2", "-extfile", str(ext), "-out", str(crt))
    return {"key": str(key), "cert": str(crt), "pem": crt.read_text(), "key_pem": key.read_text()}


def revocation_list(d, ca, revoked):
    """A CRL (PEM text) of `ca` naming the `revoked` certificates, made by `openssl ca`."""
    db = d / "crl-db"
    db.mkdir()
    (db / "index.txt").write_text("")
    (db / "crlnumber").write_text("01\n")
    (db / "ca.cnf").write_text("[ca]\ndefault_ca = local\n[local]\ndatabase = index.txt\ncrlnumber = crlnumber\n"
                               "default_md = sha256\ndefault_crl_days = 2\n")
    for cert in revoked:
        openssl("ca", "-config", "ca.cnf", "-keyfile", ca["key"], "-cert", ca["cert"], "-revoke", cert["cert"],
                cwd=db)
    openssl("ca", "-config", "ca.cnf", "-keyfile", ca["key"], "-cert", ca["cert"], "-gencrl", "-out", "crl.pem",
            cwd=db)
    return (db / "crl.pem").read_text()
