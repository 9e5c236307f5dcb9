"""The container image starts: every shared library the portico binary links (readelf -d
NEEDED, resolved to Debian packages with dpkg -S) is installed by the Dockerfile's runtime
stage. scripts/check-image-libs.py does the work; here it runs on the binary under test,
and on a copy of the Dockerfile with one package taken out, which it must refuse."""
import os
import subprocess
import sys

from helpers import REPO, portico_bin

SCRIPT = os.path.join(REPO, "scripts", "check-image-libs.py")
DOCKERFILE = os.path.join(REPO, "Dockerfile")


def check(dockerfile):
    return subprocess.run([sys.executable, SCRIPT, portico_bin(), dockerfile],
                          capture_output=True, text=True, timeout=60)


def test_runtime_stage_installs_every_linked_library():
    r = check(DOCKERFILE)
    assert r.returncode == 0, r.stdout + r.stderr
    # The libraries the last image was missing are among those checked.
    assert "libhiredis0.14" in r.stdout and "libcrypt1" in r.stdout, r.stdout


def test_a_missing_runtime_package_fails_the_check(tmp_path):
    with open(DOCKERFILE) as f:
        text = f.read()
    assert " libhiredis0.14 " in text
    broken = tmp_path / "Dockerfile"
    broken.write_text(text.replace(" libhiredis0.14 ", " "))
    r = check(str(broken))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "libhiredis.so.0.14 (package libhiredis0.14)" in r.stderr, r.stderr


def test_packages_installed_in_the_builder_stage_do_not_count(tmp_path):
    # Only the last stage is the runtime image: a package the builder installs is not there.
    with open(DOCKERFILE) as f:
        text = f.read()
    broken = tmp_path / "Dockerfile"
    broken.write_text(text.replace(" libhiredis0.14 ", " ").replace(
        "FROM debian:bookworm AS builder\n",
        "FROM debian:bookworm AS builder\nRUN apt-get install -y libhiredis0.14\n"))
    r = check(str(broken))
    assert r.returncode == 1, r.stdout + r.stderr
