#!/usr/bin/env python3
"""The local stack: a moto server and a throwaway PostgreSQL 15 with TLS, on loopback and free ports.

    tools/stack.py run -- CMD...   start, run CMD with the stack's environment, stop (always)
    tools/stack.py run --iam -- CMD...   the same with IAM enforced (the deploy rehearsal)
    tools/stack.py up [--iam]      start in the background; prints `export` lines (also in .stack/env.sh)
    tools/stack.py env             print the running stack's `export` lines
    tools/stack.py down            stop it and remove its folder

PostgreSQL gets a CA generated at start, a server certificate signed by it for DNS:localhost, and
`hostssl` lines only (plaintext TCP is refused). `log_statement = 'all'` so tests can read what the
server saw. A second CA that signed nothing is written too, for "untrusted certificate" tests. A
readable copy of the localhost certificate serves the Kubernetes API stand-in (tests/kube_standin.rs).
With `--iam`, moto runs through tools/moto_iam.py with `INITIAL_NO_AUTH_ACTION_COUNT`: the first
IAM_FREE_CALLS requests (tools/deploy_local.py's bootstrap: the organization, its two accounts and an
admin user in each) pass unsigned; every later request is authorized against its caller's policies,
and each decision is logged to $CARETAKER_IAM_LOG.
Everything lives in one temp folder, removed by `down`; no process is left behind.
"""
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".stack"
VENV = Path(os.environ.get("CARETAKER_VENV", ROOT / ".venv"))
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
REGION = "us-east-1"
# Requests moto lets through before it enforces IAM: exactly deploy_local.bootstrap's calls.
IAM_FREE_CALLS = 14


def log(msg):
    print(f"stack: {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_postgres(cmd, **kw):
    """Server commands must not run as root: run them as the postgres user when we are root."""
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    return subprocess.run(cmd, check=True, **kw)


def chown_postgres(path):
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], check=True, cwd=cwd,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_certs(tls):
    tls.mkdir()
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=Caretaker local CA", "-keyout", "ca.key", "-out", "ca.crt", cwd=tls)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
            "-keyout", "server.key", "-out", "server.csr", cwd=tls)
    (tls / "ext.cnf").write_text("subjectAltName=DNS:localhost\n"
                                 "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                                 "extendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "ext.cnf", "-out", "server.crt", cwd=tls)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=Some other CA", "-keyout", "other-ca.key", "-out", "other-ca.crt", cwd=tls)
    # The same localhost certificate, kept readable by this user, for the Kubernetes API stand-in.
    shutil.copy(tls / "server.crt", tls / "kube.crt")
    shutil.copy(tls / "server.key", tls / "kube.key")
    for f in ("server.key", "server.crt", "ca.crt"):
        chown_postgres(tls / f)
    os.chmod(tls / "server.key", 0o600)


def start_moto(d, iam=False):
    port = free_port()
    python = VENV / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"stack: {python} is missing: run tools/bootstrap.sh first")
    out = open(d / "moto.log", "wb")
    server, env = ["-m", "moto.server"], dict(os.environ)
    if iam:
        server = [str(ROOT / "tools" / "moto_iam.py")]
        # AWS managed policies (AWSLambdaBasicExecutionRole, ...) exist, as in every AWS account.
        env.update(INITIAL_NO_AUTH_ACTION_COUNT=str(IAM_FREE_CALLS), CARETAKER_IAM_LOG=str(d / "iam.jsonl"),
                   MOTO_IAM_LOAD_MANAGED_POLICIES="true")
    proc = subprocess.Popen([str(python), *server, "-H", "127.0.0.1", "-p", str(port)], env=env,
                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(150):
        if proc.poll() is not None:
            raise SystemExit(f"stack: moto exited early; see {d / 'moto.log'}")
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1).read()
            return proc.pid, url
        except Exception:
            time.sleep(0.1)
    raise SystemExit("stack: moto did not become ready in 15 s")


def start_pricing(d):
    """The Price List API's fixture endpoint (tools/pricing_fixture.py): moto has none."""
    port = free_port()
    out = open(d / "pricing.log", "wb")
    proc = subprocess.Popen([str(VENV / "bin" / "python"), str(ROOT / "tools" / "pricing_fixture.py"), str(port)],
                            env={**os.environ, "CARETAKER_STACK_DIR": str(d)}, stdout=out,
                            stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        if proc.poll() is not None:
            raise SystemExit(f"stack: the pricing fixture exited early; see {d / 'pricing.log'}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc.pid, url
        except OSError:
            time.sleep(0.05)
    raise SystemExit("stack: the pricing fixture did not start in 5 s")


def start_postgres(d):
    port = free_port()
    pg = d / "pg"
    sock = d / "sock"
    for p in (pg, sock):
        p.mkdir()
        chown_postgres(p)
    password = secrets.token_urlsafe(24)
    pwfile = d / "pwfile"
    pwfile.write_text(password + "\n")
    chown_postgres(pwfile)
    as_postgres([str(PG_BIN / "initdb"), "-D", str(pg), "-U", "postgres", "-E", "UTF8",
                 "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pwfile.unlink()
    tls = d / "tls"
    make_certs(tls)
    with open(pg / "postgresql.conf", "a") as conf:
        conf.write(f"""
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{sock}'
ssl = on
ssl_cert_file = '{tls / "server.crt"}'
ssl_key_file = '{tls / "server.key"}'
ssl_min_protocol_version = 'TLSv1.2'
password_encryption = 'scram-sha-256'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
log_statement = 'all'
log_connections = on
log_line_prefix = '%m [%p] %u@%d '
""")
    # TLS is mandatory over TCP: hostssl lines only. The socket (private folder) is for the admin.
    (pg / "pg_hba.conf").write_text(
        "local all all trust\n"
        "hostssl all all 127.0.0.1/32 scram-sha-256\n")
    logfile = d / "postgres.log"
    logfile.touch()
    chown_postgres(logfile)
    as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(pg), "-l", str(logfile), "-w", "-t", "30", "start"],
                stdout=subprocess.DEVNULL)
    pid = int((pg / "postmaster.pid").read_text().split()[0])
    return pid, port, password


def write_env(d, env):
    lines = "".join(f"export {k}='{v}'\n" for k, v in env.items())
    (d / "env.sh").write_text(lines)
    (d / "env.json").write_text(json.dumps(env, indent=2))
    return lines


def up(quiet=False, iam=False):
    d = Path(tempfile.mkdtemp(prefix="caretaker-stack-"))
    os.chmod(d, 0o755)
    pids = {}
    try:
        moto_pid, moto_url = start_moto(d, iam)
        pids["moto"] = moto_pid
        (d / "pids.json").write_text(json.dumps(pids))
        pricing_pid, pricing_url = start_pricing(d)
        pids["pricing"] = pricing_pid
        (d / "pids.json").write_text(json.dumps(pids))
        pg_pid, pg_port, pg_password = start_postgres(d)
        pids["postgres"] = pg_pid
        (d / "pids.json").write_text(json.dumps(pids))
    except BaseException:
        down(d)
        raise
    tls = d / "tls"
    env = {
        "CARETAKER_STACK_DIR": str(d),
        "AWS_ENDPOINT_URL": moto_url,
        # moto has no Price List API: GetProducts is answered from tests/fixtures/pricing.
        "AWS_ENDPOINT_URL_PRICING": pricing_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "CARETAKER_PG_HOST": "localhost",
        "CARETAKER_PG_PORT": str(pg_port),
        "CARETAKER_PG_SUPERUSER": "postgres",
        "CARETAKER_PG_SUPERUSER_PASSWORD": pg_password,
        "CARETAKER_PG_CA": str(tls / "ca.crt"),
        "CARETAKER_PG_OTHER_CA": str(tls / "other-ca.crt"),
        "CARETAKER_PG_LOG": str(d / "postgres.log"),
        "CARETAKER_TLS_CA": str(tls / "ca.crt"),
        "CARETAKER_TLS_CERT": str(tls / "kube.crt"),
        "CARETAKER_TLS_KEY": str(tls / "kube.key"),
        "CARETAKER_PG_SOCKET_DIR": str(d / "sock"),
        "DATABASE_URL": f"postgresql://postgres:{pg_password}@localhost:{pg_port}/postgres"
                        f"?sslmode=verify-full&sslrootcert={tls / 'ca.crt'}",
    }
    if iam:
        env.update(CARETAKER_IAM_LOG=str(d / "iam.jsonl"), CARETAKER_IAM_FREE_CALLS=str(IAM_FREE_CALLS))
    lines = write_env(d, env)
    if not quiet:
        log(f"moto{' (IAM enforced)' if iam else ''} on {moto_url}, PostgreSQL 15 (TLS only) on localhost:{pg_port}, folder {d}")
    return d, env, lines


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def down(d):
    d = Path(d)
    if (d / "pg" / "postmaster.pid").exists():
        try:
            as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(d / "pg"), "-m", "fast", "-w", "stop"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except subprocess.CalledProcessError:
            pass
    pids = {}
    if (d / "pids.json").exists():
        pids = json.loads((d / "pids.json").read_text())
    for name, pid in pids.items():
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if not alive(pid):
                break
            try:
                os.killpg(pid, sig) if name in ("moto", "pricing") else os.kill(pid, sig)
            except ProcessLookupError:
                break
            for _ in range(50):
                if not alive(pid):
                    break
                time.sleep(0.1)
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
    shutil.rmtree(d, ignore_errors=True)


def current():
    p = STATE / "current"
    if p.exists():
        d = Path(p.read_text().strip())
        if d.exists():
            return d
    return None


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    cmd, rest = argv[0], argv[1:]
    iam = "--iam" in rest[:1]
    if iam:
        rest = rest[1:]
    if cmd == "up":
        if current():
            log(f"already running in {current()}")
            sys.stdout.write((current() / "env.sh").read_text())
            return 0
        d, _, lines = up(iam=iam)
        STATE.mkdir(exist_ok=True)
        (STATE / "current").write_text(str(d))
        shutil.copy(d / "env.sh", STATE / "env.sh")
        sys.stdout.write(lines)
        return 0
    if cmd == "env":
        d = current()
        if not d:
            log("not running (start it with: tools/stack.py up)")
            return 1
        sys.stdout.write((d / "env.sh").read_text())
        return 0
    if cmd == "down":
        d = current()
        if d:
            down(d)
            log(f"stopped and removed {d}")
        for f in ("current", "env.sh"):
            (STATE / f).unlink(missing_ok=True)
        return 0
    if cmd == "run":
        if rest and rest[0] == "--":
            rest = rest[1:]
        if not rest:
            log("run needs a command")
            return 2
        d, env, _ = up(iam=iam)
        child = None

        def stop(signum, _frame):
            if child and child.poll() is None:
                child.send_signal(signum)
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            child = subprocess.Popen(rest, env={**os.environ, **env})
            return child.wait()
        finally:
            down(d)
            log(f"stopped; removed {d}")
    log(f"unknown command {cmd!r}")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
