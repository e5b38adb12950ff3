"""The `konstrukt` program ends without the interpreter's teardown, and loses nothing doing so."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

# output into a pipe is block-buffered, as on a user's machine (PYTHONUNBUFFERED would hide a lost flush)
BUFFERED = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120, env=BUFFERED)


def test_the_program_flushes_its_output_into_a_pipe_and_returns_the_commands_code():
    listed = subprocess.run([sys.executable, "-m", "konstrukt", "pipelines"], capture_output=True,
                            text=True, timeout=120, env=BUFFERED)
    assert listed.returncode == 0, listed.stderr
    # a pipe is block-buffered: without the flush before the exit, this output would be lost
    assert "efficientnet_lite0" in listed.stdout and "speech_embedding" in listed.stdout
    missing = subprocess.run([sys.executable, "-m", "konstrukt", "check", "no-such-folder", "--task",
                              "image"], capture_output=True, text=True, timeout=120, env=BUFFERED)
    assert missing.returncode == 2
    assert "error: data not found" in missing.stderr


def test_exit_handlers_and_running_threads_finish_before_the_exit():
    done = _python("""
        import atexit, sys, threading, time
        from konstrukt.cli import exit_without_teardown

        atexit.register(lambda: print("exit handler ran"))
        def late():
            time.sleep(0.3)
            print("thread finished")
        threading.Thread(target=late).start()
        sys.stdout.write("buffered, not yet flushed")
        exit_without_teardown(3)
    """)
    assert done.returncode == 3
    assert done.stdout.index("thread finished") < done.stdout.index("exit handler ran")
    assert "buffered, not yet flushed" in done.stdout


def test_main_called_from_python_returns_instead_of_exiting(capsys):
    from konstrukt.cli import main

    assert main(["pipelines"]) == 0  # tests and scripts call main(): the process goes on
    assert "minirocket" in capsys.readouterr().out
