"""The server's log keeps konstrukt's lines and leaves out the ONNX tools' and Alembic's chatter."""
import logging

from konstrukt.service.db import make_engine, migrate
from konstrukt.service.logs import QUIET, configure_logging


def test_library_chatter_stays_out_of_the_log(tmp_path, caplog):
    levels = {name: logging.getLogger(name).level for name in QUIET}
    try:
        configure_logging("%(message)s")
        with caplog.at_level(logging.INFO):
            migrate(make_engine(f"sqlite:///{tmp_path / 'k.db'}"))  # Alembic: context, plugins
            logging.getLogger("onnxscript.optimizer._constant_folding").info("Skipping constant folding")
            logging.getLogger("onnx_ir.passes.common.unused_removal").info("Removed 38 unused nodes")
            logging.getLogger("onnx_ir.passes").warning("a real problem")
            logging.getLogger("konstrukt.service").info("worker started")
        said = [(r.name, r.getMessage()) for r in caplog.records]
        assert not [n for n, _ in said if n.startswith(("alembic", "onnxscript"))], said
        assert ("onnx_ir.passes", "a real problem") in said and ("konstrukt.service", "worker started") in said
        assert not any("Removed 38" in m for _, m in said)
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
