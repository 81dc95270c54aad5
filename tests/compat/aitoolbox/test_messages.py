"""MessageService lifetimes, and the purge after every epoch's callbacks."""

from __future__ import annotations

import pytest

from tests.compat.aitoolbox._tiny import make_loop
from unitrain.compat.aitoolbox import AbstractCallback, MessageHandling, MessageService
from unitrain.errors import ConfigError


def test_lifetimes() -> None:
    service = MessageService()
    service.write_message("epoch", 1)
    service.write_message("read", 2, MessageHandling.UNTIL_READ)
    service.write_message("forever", 3, MessageHandling.KEEP_FOREVER)
    service.write_message("forever", 4, [MessageHandling.KEEP_FOREVER])
    service.write_message("over", 5, MessageHandling.OVERWRITE)
    service.write_message("over", 6, [MessageHandling.OVERWRITE, MessageHandling.KEEP_FOREVER])
    assert service.read_messages("read") == [2]
    assert service.read_messages("read") == []  # aitoolbox keeps the emptied key
    assert service.read_messages("never written") is None
    assert service.read_messages("forever") == [3, 4]
    assert service.read_messages("over") == [6]
    service.end_of_epoch_trigger()
    assert service.read_messages("epoch") is None
    assert service.read_messages("forever") == [3, 4] and service.read_messages("over") == [6]


def test_unknown_setting_is_refused() -> None:
    with pytest.raises(TypeError, match="unknown message handling"):
        MessageService().write_message("k", 1, "sometimes")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="only OVERWRITE combines"):
        MessageService().write_message(
            "k", 1, [MessageHandling.UNTIL_READ, MessageHandling.KEEP_FOREVER]
        )


def test_messages_pass_between_callbacks_and_are_purged_after_the_epoch() -> None:
    read: list[object] = []

    class Writer(AbstractCallback):
        def on_epoch_end(self) -> None:
            self.message_service.write_message("path", self.train_loop_obj.epoch)

    class Reader(AbstractCallback):
        def on_epoch_end(self) -> None:
            read.append(self.message_service.read_messages("path"))

    loop = make_loop(val=None, end_auto_eval=False)
    loop.fit(num_epochs=2, callbacks=[Reader("reader", 1), Writer("writer", 0)])
    assert read == [[0], [1]]  # order 0 writes before order 1 reads; purged in between
    assert loop.message_service.read_messages("path") is None
