"""Stand-in for the pip bootstrap script ansible-test downloads from a host we cannot reach.

ansible-test runs this inside each fresh sanity virtual environment with pip's
install arguments. We bring pip in with Python's own ensurepip, then let it
install the requested packages from the package index as usual.
"""

import subprocess
import sys

if __name__ == "__main__":
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"],
                          stdout=subprocess.DEVNULL)
    wanted = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet"] + wanted)
