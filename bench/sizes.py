"""Size of each function as deployed: the arm64 `bootstrap` built by `cargo lambda build
--release --arm64`, and the zip Lambda receives (deflate level 9, as SAM's packaging).

Usage: python bench/sizes.py [target/lambda]
"""

import io
import os
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "lambda")
    # The deployed functions only (a local-server built by hand may sit there too).
    functions = set(os.listdir(os.path.join(ROOT, "functions")))
    names = sorted(
        n for n in os.listdir(folder) if n in functions and os.path.isfile(os.path.join(folder, n, "bootstrap"))
    )
    if not names:
        raise SystemExit(f"no bootstrap under {folder}: run cargo lambda build --release --arm64")
    for name in names:
        path = os.path.join(folder, name, "bootstrap")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
            archive.write(path, "bootstrap")
        size = os.path.getsize(path)
        print(f"{name:36s} bootstrap {size / 1e6:5.2f} MB   zip {len(buffer.getvalue()) / 1e6:5.2f} MB")


if __name__ == "__main__":
    main()
