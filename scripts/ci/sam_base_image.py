"""Writes a `docker load` archive of one image: a root file system tar as its only layer,
with the architecture, working directory and environment of AWS's Lambda base images.

scripts/ci/sam-local.sh tags it with the name SAM gives the `provided.al2023` base image, so
that `sam local ... --skip-pull-image` builds its emulation image on it without a registry.
Written directly rather than by `docker import`: the Docker 20.10 engine records an imported
image as its own architecture whatever `--platform` says, and then refuses to build an
arm64 image on it without pulling.

Usage: python sam_base_image.py ROOTFS.tar ARCH TAG LABEL=VALUE... > image.tar  (ARCH: arm64 | x86_64)
"""

import hashlib
import io
import json
import sys
import tarfile

# As in AWS's provided.al2023 images (`docker inspect`); the entry point is SAM's own.
ENV = [
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG=en_US.UTF-8",
    "TZ=:/etc/localtime",
    "LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
    "LAMBDA_TASK_ROOT=/var/task",
    "LAMBDA_RUNTIME_DIR=/var/runtime",
]
PLATFORMS = {"arm64": ("arm64", "v8"), "x86_64": ("amd64", None)}


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def member(archive, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    archive.addfile(info, io.BytesIO(data))


def main():
    if len(sys.argv) < 4 or sys.argv[2] not in PLATFORMS:
        print(__doc__, file=sys.stderr)
        return 2
    rootfs, arch, tag = sys.argv[1:4]
    labels = dict(arg.split("=", 1) for arg in sys.argv[4:])
    architecture, variant = PLATFORMS[arch]
    layer = sha256_of(rootfs)
    config = {
        "architecture": architecture,
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {"Env": ENV, "WorkingDir": "/var/task", "Labels": labels},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer}"]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "mmdebstrap (scripts/ci/sam-local.sh)"}],
    }
    if variant:
        config["variant"] = variant
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    manifest = [{"Config": config_name, "RepoTags": [tag], "Layers": [f"{layer}/layer.tar"]}]
    with tarfile.open(fileobj=sys.stdout.buffer, mode="w|") as archive:
        member(archive, config_name, config_bytes)
        archive.add(rootfs, arcname=f"{layer}/layer.tar")
        member(archive, "manifest.json", json.dumps(manifest).encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
