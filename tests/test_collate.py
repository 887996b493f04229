"""Training-stack conveniences: collate (padding, CTC targets), transforms, DataLoader workers."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest

from strokeseq.dataset import SequenceCollate, SequenceDataset, collate_sequences

CFG = {
    "length": [2, 5],
    "spacing": [0, 6],
    "width": {"per_digit": 32, "extra": 4},
}


def test_package_imports_without_torch():
    # torch must not be imported by the package, the dataset or the collate module
    code = (
        "import sys; import strokeseq, strokeseq.dataset; "
        "from strokeseq.dataset import SequenceCollate, collate_sequences; "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_collate_numpy_pads_with_background_and_builds_ctc_targets(fake_mnist_dir):
    ds = SequenceDataset(40, CFG, 3, data_dir=str(fake_mnist_dir))
    items = ds.__getitems__(list(range(12)))
    batch = ds.collate(tensors=False)(items)
    widths = [img.shape[1] for img, _ in items]
    assert batch["images"].shape == (12, 1, 28, max(widths))
    assert batch["images"].dtype == np.float32
    assert batch["widths"].tolist() == widths
    for r, (img, lab) in enumerate(items):
        np.testing.assert_array_equal(batch["images"][r, 0, :, : widths[r]], img)
        assert np.all(batch["images"][r, 0, :, widths[r] :] == 1.0)  # white page background
        assert batch["texts"][r] == lab["text"]
        n = lab["length"]
        assert batch["padded_targets"][r, :n].tolist() == lab["digits"]
        assert np.all(batch["padded_targets"][r, n:] == -1)
    assert batch["target_lengths"].tolist() == [lab["length"] for _, lab in items]
    assert batch["targets"].tolist() == [d for _, lab in items for d in lab["digits"]]
    assert len(set(widths)) > 1  # the test exercised padding


def test_background_follows_ink_and_dtype(fake_mnist_dir):
    white = SequenceDataset(4, {**CFG, "ink": "white"}, 3, data_dir=str(fake_mnist_dir))
    u8 = SequenceDataset(4, CFG, 3, data_dir=str(fake_mnist_dir), dtype=np.uint8)
    assert white.background == 0.0 and u8.background == 255.0
    b = u8.collate(tensors=False)(u8.__getitems__([0, 1, 2, 3]))
    assert b["images"].dtype == np.uint8
    w = b["widths"].tolist()
    assert all(np.all(b["images"][r, 0, :, w[r] :] == 255) for r in range(4))


def test_collate_accepts_strings_and_rejects_bad_input():
    x = np.zeros((28, 30), np.float32)
    b = collate_sequences([(x, "305"), (x[:, :10], "7")], 0.0, tensors=False)
    assert b["targets"].tolist() == [3, 0, 5, 7] and b["target_lengths"].tolist() == [3, 1]
    with pytest.raises(ValueError, match="empty batch"):
        collate_sequences([], tensors=False)
    with pytest.raises(ValueError, match="digits 0-9"):
        collate_sequences([(x, "3a")], tensors=False)
    with pytest.raises(ValueError, match="differ in more than width"):
        collate_sequences([(x, "1"), (np.zeros((20, 30)), "2")], tensors=False)
    with pytest.raises(TypeError, match="pad_value"):
        SequenceCollate("white")
    assert pickle.loads(pickle.dumps(SequenceCollate(0.0))).pad_value == 0.0


def test_transform_and_target_transform(fake_mnist_dir):
    plain = SequenceDataset(10, CFG, 5, data_dir=str(fake_mnist_dir))
    ds = SequenceDataset(
        10,
        CFG,
        5,
        data_dir=str(fake_mnist_dir),
        transform=lambda im: 1.0 - im,
        target_transform=lambda lab: lab["text"],
    )
    img, text = ds[4]
    ref_img, ref_lab = plain[4]
    np.testing.assert_array_equal(img, 1.0 - ref_img)
    assert text == ref_lab["text"]
    assert [t for _, t in ds.__getitems__([1, 4])] == [plain[1][1]["text"], ref_lab["text"]]
    # the collate reads digit strings returned by target_transform
    b = collate_sequences(ds.__getitems__([1, 4]), 0.0, tensors=False)
    assert b["texts"] == [plain[1][1]["text"], ref_lab["text"]]
    with pytest.raises(TypeError, match="transform must be callable"):
        SequenceDataset(10, CFG, 5, transform="flip")


def test_dataloader_workers_give_the_same_batches(fake_mnist_dir):
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    ds = SequenceDataset(48, CFG, 9, data_dir=str(fake_mnist_dir))

    order = np.random.default_rng(4).permutation(48).tolist()

    def epoch(workers):
        loader = DataLoader(
            ds,
            batch_size=8,
            sampler=order,
            num_workers=workers,
            collate_fn=ds.collate(),
        )
        return list(loader)

    zero, two = epoch(0), epoch(2)
    assert len(zero) == len(two) == 6
    for a, b in zip(zero, two, strict=True):
        assert isinstance(a["images"], torch.Tensor) and a["images"].dtype == torch.float32
        assert torch.equal(a["images"], b["images"]) and a["texts"] == b["texts"]
        assert torch.equal(a["targets"], b["targets"])
        assert a["targets"].dtype == torch.int64
        # CTC-ready: the loss accepts the batch as it comes
        t = a["images"].shape[-1] // 4
        logp = torch.randn(t, len(a["texts"]), 11).log_softmax(2)
        loss = torch.nn.CTCLoss(blank=10)(
            logp, a["targets"], torch.full((len(a["texts"]),), t), a["target_lengths"]
        )
        assert torch.isfinite(loss)
    # a batch is the padded samples at the sampler's indices
    assert zero[1]["texts"] == [ds[i][1]["text"] for i in order[8:16]]
