#!/usr/bin/env python3
"""Checks that the container image's runtime stage installs every shared library the
portico binary links.

    scripts/check-image-libs.py [BINARY] [DOCKERFILE]    (defaults: build/portico, Dockerfile)

Each NEEDED entry of the binary's dynamic section (readelf -d) is resolved to a file the way
the dynamic loader does (ldd), and the file to the Debian package that ships it (dpkg -S). Every such
package must be named by an `apt-get install` in the Dockerfile's last stage (the runtime
image), or be one the base image always has (BASE_IMAGE_PACKAGES). Only direct NEEDED
entries count: the libraries those pull in are dependencies of the listed packages, which
apt installs with them.

Exit status 0 when nothing is missing, 1 with one line per missing library otherwise, 2 when
the check itself cannot run (no binary, no readelf, a library no package ships).
"""
import os
import re
import subprocess
import sys

# In debian:bookworm-slim before any apt-get install: libc6 and libgcc-s1 are essential
# (Priority: required), libstdc++6 is a dependency of apt, which the image keeps.
BASE_IMAGE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6"}


def needed_libraries(binary):
    out = subprocess.run(["readelf", "-d", binary], check=True, capture_output=True, text=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def library_paths(binary):
    """soname -> path as the dynamic loader resolves them for `binary` (ldd)."""
    out = subprocess.run(["ldd", binary], check=True, capture_output=True, text=True).stdout
    return dict(re.findall(r"^\s*(\S+) => (/\S+)", out, re.M))


def owning_package(path):
    """The package shipping `path`, trying the merged-/usr twin too (dpkg records one)."""
    candidates = [path, os.path.realpath(path)]
    for p in list(candidates):
        if p.startswith("/usr/"):
            candidates.append(p[len("/usr"):])
        else:
            candidates.append("/usr" + p)
    for p in candidates:
        r = subprocess.run(["dpkg", "-S", p], capture_output=True, text=True)
        if r.returncode == 0:
            # "libhiredis0.14:amd64: /usr/lib/x86_64-linux-gnu/libhiredis.so.0.14"
            return r.stdout.split(":", 1)[0].strip().split(",")[0].strip()
    return None


def runtime_packages(dockerfile_text):
    """Packages named by `apt-get install` in the last stage of the Dockerfile."""
    text = re.sub(r"\\\n", " ", dockerfile_text)  # join continuation lines
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    stages = re.split(r"(?im)^\s*FROM\s", text)
    last = stages[-1]
    packages = set()
    for m in re.finditer(r"apt-get\s+install\s+([^&;|\n]*)", last):
        for token in m.group(1).split():
            if token.startswith("-"):
                continue
            packages.add(token.split("=", 1)[0])
    return packages


def main(argv):
    binary = argv[1] if len(argv) > 1 else "build/portico"
    dockerfile = argv[2] if len(argv) > 2 else "Dockerfile"
    if not os.path.isfile(binary):
        print(f"check-image-libs: no binary at {binary}", file=sys.stderr)
        return 2
    with open(dockerfile) as f:
        listed = runtime_packages(f.read())
    if not listed:
        print(f"check-image-libs: no apt-get install in the last stage of {dockerfile}", file=sys.stderr)
        return 2
    paths = library_paths(binary)
    missing, unresolved, used = [], [], set()
    for soname in needed_libraries(binary):
        path = paths.get(soname)
        package = owning_package(path) if path else None
        if not package:
            unresolved.append(f"{soname} ({path or 'not found by the loader'})")
            continue
        used.add(package)
        if package not in listed and package not in BASE_IMAGE_PACKAGES:
            missing.append(f"{soname} (package {package}), which the runtime stage does not install")
    for line in unresolved:
        print(f"check-image-libs: {binary} links {line}, which no Debian package ships", file=sys.stderr)
    for line in missing:
        print(f"check-image-libs: {binary} links {line} ({dockerfile})", file=sys.stderr)
    if missing:
        print("check-image-libs: add the package(s) to the apt-get install of the runtime stage", file=sys.stderr)
    if unresolved:
        return 2
    if missing:
        return 1
    print(f"check-image-libs: every library {os.path.basename(binary)} links is installed by the runtime "
          f"stage or the base image ({', '.join(sorted(used))})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
