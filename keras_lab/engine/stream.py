"""The sine set on disk: seeded TFRecord shards with a manifest, streamed through tf.data.

The lecture: batch gradient descent "is intractable for datasets that do not fit in
memory"; mini-batch GD reads one batch at a time. This module writes a sine set of any size
to disk in bounded memory and reads it back as a ``tf.data`` pipeline of global batches:

    files (in order, or a seeded per-epoch permutation)
      -> interleave TFRecordDataset (one file at a time when shuffle is off)
      -> decode blocks of samples
      -> (if shuffle) windows of buffer_size samples, each permuted at once, seeded
      -> rebatch into global batches -> prefetch

Format. ``manifest.json`` names the shards with their sample counts, sizes in bytes and
SHA-256 checksums; every record of a shard is one block of up to :data:`BLOCK` samples,
stored as raw little-endian floats ``x[0..k), y[0..k)`` (one record per block, not per
sample: parsing 50M tiny records would cost more than the training). With ``noise=0`` the
shards hold exactly ``data.sine_data(samples, seed=seed)``.

Verification. Training reads nothing it has not checked: :func:`read_manifest` (every
epoch) checks the manifest, that the shards are exactly the files listed, and each file's
size, and the manifest's SHA-256 of its other fields (per-field digests name an edited
one); :func:`verify_shards` (once per run, before the first update) checks each file's
SHA-256 and each decoded sample: p in :data:`P_RANGE`, t within :data:`NOISE_SIGMAS` noise
deviations of g(p). Older, unsealed manifests are refused with the command that rewrites
the set (seeded: the same samples).
"""

import functools
import hashlib
import json
import os
import shutil

import numpy as np
import tensorflow as tf

from keras_lab import checks, data
from keras_lab.engine.batches import Losses, running
from keras_lab.lecture.gd import batching

#: Samples per record.
BLOCK = 4096
#: The manifest's file name and format tag.
MANIFEST = "manifest.json"
FORMAT = "keras-lab-sine-v3"
#: The interval p is drawn from (:func:`keras_lab.data.sine_data`'s), so g(p) lies in [0, 2].
P_RANGE = (-2.0, 2.0)
#: Decoded targets may lie this many noise standard deviations from g(p): a normal draw
#: beyond 10 sigma has probability 1.5e-23 (2 * Phi(-10)), never met in any set written.
NOISE_SIGMAS = 10.0
#: Bytes a TFRecord adds to each record: length (8), its CRC (4), the data's CRC (4).
RECORD_OVERHEAD = 16


def write_shards(
    out_dir: str,
    num_samples: int,
    num_shards: int = 8,
    seed: int = 0,
    noise: float = 0.0,
    dtype: str = "float32",
) -> dict:
    """Write ``num_samples`` points of g(p) = 1 + sin(pi p / 4) as TFRecord shards.

    Memory stays bounded by one block: p is drawn block by block from one seeded generator
    (the same stream as :func:`keras_lab.data.sine_data`); noise, if any, comes from a
    second generator seeded by (seed, 1). Written into ``.NAME.partial-PID`` beside
    ``out_dir``, renamed when whole (the next write removes a killed one's folder). Returns
    the manifest (also written to ``out_dir/manifest.json``).

    Example:
        >>> import tempfile
        >>> manifest = write_shards(tempfile.mkdtemp() + "/set", 10, num_shards=3, seed=1)
        >>> [shard["samples"] for shard in manifest["shards"]]
        [4, 3, 3]
    """
    checks.integer("samples", num_samples, minimum=1)
    checks.integer("shards", num_shards, minimum=1)
    checks.number("noise", noise, minimum=0)
    dtype = data._check_dtype(dtype)
    if os.path.exists(out_dir) and (not os.path.isdir(out_dir) or os.listdir(out_dir)):
        raise ValueError(f"--out {out_dir!r} exists and is not an empty directory")
    num_shards = min(int(num_shards), int(num_samples))
    parent, name = os.path.split(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    prefix = f".{name}.partial-"
    for stale in os.listdir(parent):
        if stale.startswith(prefix) and not _alive(stale[len(prefix) :]):
            shutil.rmtree(os.path.join(parent, stale), ignore_errors=True)
    partial = os.path.join(parent, f"{prefix}{os.getpid()}")
    os.makedirs(partial)
    try:
        manifest = _write_all(partial, int(num_samples), num_shards, seed, noise, dtype)
        os.rename(partial, out_dir)  # onto a missing or empty directory: whole or absent
    except BaseException:  # a full disk, a signal: leave no half-written set behind
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return manifest


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (OSError, ValueError):  # another user's process, or not a pid: keep its folder
        pass
    return True


def _write_all(folder: str, samples: int, num_shards: int, seed: int, noise: float, dtype: str):
    rng = np.random.default_rng(seed)
    noise_rng = np.random.default_rng([seed, 1])
    base, extra = divmod(samples, num_shards)
    counts = [base + (1 if i < extra else 0) for i in range(num_shards)]
    shards = []
    for index, count in enumerate(counts):
        name = f"sine-{index:05d}-of-{num_shards:05d}.tfrecord"
        path = os.path.join(folder, name)
        with tf.io.TFRecordWriter(path) as writer:
            for start in range(0, count, BLOCK):
                size = min(BLOCK, count - start)
                p = rng.uniform(*P_RANGE, size=size)
                t = data.sine_target(p)
                if noise > 0:
                    t = t + noise * noise_rng.standard_normal(size)
                writer.write(np.concatenate([p, t]).astype(f"<{np.dtype(dtype).str[1:]}").tobytes())
        shards.append({"file": name, "samples": count, "bytes": os.path.getsize(path)})
        shards[-1]["sha256"] = _sha256(path)
    manifest = dict(format=FORMAT, samples=samples, seed=int(seed), noise=float(noise))
    manifest.update(dtype=dtype, block=BLOCK, shards=shards)
    manifest["fields"] = _field_digests(manifest)
    manifest["checksum"] = _digest(manifest)
    with open(os.path.join(folder, MANIFEST), "wb") as f:
        f.write(json.dumps(manifest, indent=2).encode())
        f.flush()
        os.fsync(f.fileno())
    return manifest


def _digest(value: object) -> str:
    """SHA-256 of ``value``'s canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _field_digests(manifest: dict) -> dict:
    """A short digest of each field (each shard entry apart), to name the one edited."""
    digests = {}
    for key, value in manifest.items():
        if key in ("fields", "checksum"):
            continue
        items = enumerate(value) if key == "shards" and isinstance(value, list) else [(-1, value)]
        for i, item in items:
            digests[key if i < 0 else f"{key}[{i}]"] = _digest(item)[:16]
    return digests


def _check_seal(manifest: dict) -> None:
    """ValueError naming the edited fields if the manifest's checksum does not match."""
    if manifest.get("checksum") == _digest({k: v for k, v in manifest.items() if k != "checksum"}):
        return
    stored, actual = manifest.get("fields"), _field_digests(manifest)
    if not isinstance(stored, dict):
        stored, actual = {"fields": None}, {"fields": ""}
    edited = [k for k in {**actual, **stored} if stored.get(k) != actual.get(k)]
    names = ", ".join(repr(k) for k in edited[:4]) + (", ..." if len(edited) > 4 else "")
    raise ValueError(
        f"{'fields' if len(edited) > 1 else 'field'} {names or repr('checksum')} edited or "
        "corrupted (the manifest's checksum does not match its content); rewrite the set "
        "with python -m keras_lab.stream write"
    )


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for part in iter(lambda: f.read(1 << 20), b""):
            digest.update(part)
    return digest.hexdigest()


def shard_bytes(samples: int, dtype: str, block: int = BLOCK) -> int:
    """The size of a shard of ``samples`` samples: one record per block of up to ``block``.

    Example:
        >>> shard_bytes(5, "float32", block=4)  # records of 4 and 1: (32 + 16) + (8 + 16)
        72
    """
    full, rest = divmod(int(samples), int(block))
    itemsize = np.dtype(dtype).itemsize
    size = full * (2 * block * itemsize + RECORD_OVERHEAD)
    return size + (2 * rest * itemsize + RECORD_OVERHEAD if rest else 0)


def read_manifest(data_dir: str) -> dict:
    """The manifest of a shard directory, checked against the files (their names and sizes);
    ValueError naming the directory or the bad file if anything disagrees."""
    path = os.path.join(data_dir, MANIFEST)
    if not os.path.isdir(data_dir):
        raise ValueError(f"--data {data_dir!r} is not a directory")
    if not os.path.isfile(path):
        raise ValueError(
            f"--data {data_dir!r} has no {MANIFEST} "
            "(write one with python -m keras_lab.stream write)"
        )
    try:
        with open(path) as f:
            manifest = json.load(f)
    except (OSError, ValueError) as error:
        raise ValueError(f"--data: {path} is not JSON ({error})") from None
    if not isinstance(manifest, dict):
        raise ValueError(f"--data: {path} is not a manifest (a JSON object)")
    if manifest.get("format") in ("keras-lab-sine-v1", "keras-lab-sine-v2"):
        flags = " ".join(f"--{k} {manifest.get(k)}" for k in ("samples", "seed", "noise", "dtype"))
        raise ValueError(
            f"--data: {path} is of an older format, not bound to its shards by a checksum; "
            f"rewrite the set: python -m keras_lab.stream write {flags} --shards "
            f"{len(manifest.get('shards') or [])} --out NEW_DIR"
        )
    if manifest.get("format") != FORMAT:
        raise ValueError(f"--data: {path}: unknown format {manifest.get('format')!r}")
    try:
        _check_seal(manifest)
        _check_manifest(manifest)
    except (ValueError, TypeError, KeyError) as error:
        raise ValueError(f"--data: {path}: {error}") from None
    listed = {shard["file"] for shard in manifest["shards"]}
    extra = sorted(
        name for name in os.listdir(data_dir) if name.endswith(".tfrecord") and name not in listed
    )
    if extra:
        raise ValueError(f"--data: {os.path.join(data_dir, extra[0])} is not in {MANIFEST}")
    for shard in manifest["shards"]:
        file = os.path.join(data_dir, shard["file"])
        if not os.path.isfile(file):
            raise ValueError(f"--data: shard {file} is missing")
        size = os.path.getsize(file)
        if size != shard["bytes"]:
            raise ValueError(
                f"--data: shard {file} has {size} bytes, the manifest says {shard['bytes']}"
            )
    return manifest


def _check_manifest(manifest: dict) -> None:
    for key in ("samples", "dtype", "block", "shards", "noise"):
        if key not in manifest:
            raise ValueError(f"it has no {key!r}")
    checks.one_of("dtype", manifest["dtype"], ("float32", "float64"))
    checks.integer("samples", manifest["samples"], minimum=1)
    checks.integer("block", manifest["block"], minimum=1)
    checks.number("noise", manifest["noise"], minimum=0)
    if not isinstance(manifest["shards"], list) or not manifest["shards"]:
        raise ValueError(f"'shards' must be a non-empty list, got {manifest['shards']!r:.40}")
    for shard in manifest["shards"]:
        for key, kind in (("file", str), ("samples", int), ("bytes", int), ("sha256", str)):
            if not isinstance(shard, dict) or not isinstance(shard.get(key), kind):
                raise ValueError(f"shard entry {shard!r:.60} has no {kind.__name__} {key!r}")
        if os.path.basename(shard["file"]) != shard["file"]:
            raise ValueError(f"shard file {shard['file']!r} is not a name in the directory")
        expected = shard_bytes(shard["samples"], manifest["dtype"], manifest["block"])
        if shard["bytes"] != expected:
            raise ValueError(
                f"shard {shard['file']} of {shard['samples']} {manifest['dtype']} samples "
                f"would have {expected} bytes, the manifest says {shard['bytes']}"
            )
    total = sum(shard["samples"] for shard in manifest["shards"])
    if total != manifest["samples"]:
        raise ValueError(f"its shards hold {total} samples, it says {manifest['samples']}")


def verify_shards(data_dir: str) -> dict:
    """:func:`read_manifest`, every shard's SHA-256 and decoded values (see the module's
    docstring), once per version of the files (cached by their modification times)."""
    manifest = read_manifest(data_dir)
    stamps = tuple(
        (shard["file"], os.stat(os.path.join(data_dir, shard["file"])).st_mtime_ns)
        for shard in manifest["shards"]
    )
    _verify(os.path.abspath(data_dir), json.dumps(manifest, sort_keys=True), stamps)
    return manifest


@functools.lru_cache(maxsize=16)
def _verify(data_dir: str, manifest_text: str, stamps: tuple) -> None:
    manifest = json.loads(manifest_text)
    itemsize = np.dtype(manifest["dtype"]).itemsize
    # NOISE_SIGMAS noise deviations, and 8 rounding errors of the dtype (2 ulp of p and t)
    bound = NOISE_SIGMAS * manifest["noise"] + 8 * float(np.finfo(manifest["dtype"]).eps)
    for shard in manifest["shards"]:
        file = os.path.join(data_dir, shard["file"])
        digest, in_range = hashlib.sha256(), True
        with open(file, "rb") as f:
            for start in range(0, shard["samples"], manifest["block"]):
                size = min(manifest["block"], shard["samples"] - start)
                record = f.read(2 * size * itemsize + RECORD_OVERHEAD)
                digest.update(record)
                values = np.frombuffer(record[12:-4], f"<{np.dtype(manifest['dtype']).str[1:]}")
                p, t = values[:size], values[size:]
                in_range &= bool(np.all((p >= P_RANGE[0]) & (p <= P_RANGE[1])))
                in_range &= bool(np.all(np.abs(t - data.sine_target(p)) <= bound))
            digest.update(f.read())
        if digest.hexdigest() != shard["sha256"]:
            raise ValueError(f"--data: shard {file} is altered (its SHA-256 is not the manifest's)")
        if not in_range:
            raise ValueError(
                f"--data: shard {file} decodes (as {manifest['dtype']}) to values outside "
                f"p in {list(P_RANGE)}, |t - g(p)| <= {bound:.3g}: the manifest's "
                "'dtype' or 'noise' is not the data's"
            )


def _decode(dtype: tf.DType):
    def decode(record: tf.Tensor) -> tf.Tensor:
        values = tf.reshape(tf.io.decode_raw(record, dtype, little_endian=True), [2, -1])
        # (k, 2), its own buffer: row slices of `values` would share one (TensorFlow logs
        # an error line per block and op checking such a slice's reference count)
        return tf.transpose(values)

    return decode


def _split(pairs: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    return pairs[:, :1], pairs[:, 1:]  # (x, y), each (k, 1); column slices are copies


def file_order(num_files: int, seed: int, epoch: int) -> np.ndarray:
    """The order in which a shuffled epoch reads the files: a permutation seeded by (seed, epoch).

    Example:
        >>> file_order(4, seed=0, epoch=0).tolist() == file_order(4, seed=0, epoch=0).tolist()
        True
        >>> sorted(file_order(4, seed=0, epoch=1).tolist())
        [0, 1, 2, 3]
    """
    return np.random.default_rng([seed, epoch]).permutation(num_files)


def window_seed(seed: int, epoch: int, window: tf.Tensor) -> tf.Tensor:
    """The stateless seed of window ``window`` of epoch ``epoch``: a function of the three only.

    Example:
        >>> a = window_seed(0, 1, tf.constant(2, tf.int64))
        >>> bool(tf.reduce_all(a == window_seed(0, 1, tf.constant(2, tf.int64))))
        True
        >>> bool(tf.reduce_all(a == window_seed(0, 1, tf.constant(3, tf.int64))))
        False
    """
    pair = tf.constant([seed, epoch], tf.int64)
    return tf.random.experimental.stateless_fold_in(pair, window)


def make_dataset(
    data_dir: str,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
    epoch: int = 0,
    buffer_size: int = 65536,
    drop_remainder: bool = False,
    dtype: str | None = None,
) -> tf.data.Dataset:
    """One epoch of global batches from the shards in ``data_dir``.

    Shuffle off: the samples in file order, exactly as written (as the in-memory loop with
    shuffle off). Shuffle on, seeded by (seed, epoch) only (not TensorFlow's global seed, so
    a resumed run sees the same orders): the files in the order of :func:`file_order`, up
    to 16 read round-robin, a block at a time; the blocks cut into windows of
    ``buffer_size`` samples, each permuted at once (seeded by :func:`window_seed`); the
    windows cut into batches. Each epoch visits every sample once; ``buffer_size`` bounds
    the memory, not the set's size. Every batch has ``batch_size`` samples but the last
    (dropped if ``drop_remainder`` and short).

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> _ = write_shards(folder, 10, num_shards=3, seed=1)
        >>> [int(x.shape[0]) for x, y in make_dataset(folder, 4)]
        [4, 4, 2]
        >>> [int(x.shape[0]) for x, y in make_dataset(folder, 4, shuffle=True, buffer_size=3)]
        [4, 4, 2]
    """
    checks.integer("batch_size", batch_size, minimum=1)
    checks.integer("buffer_size", buffer_size, minimum=1)
    manifest = read_manifest(data_dir)
    stored = tf.as_dtype(manifest["dtype"])
    files = [os.path.join(data_dir, shard["file"]) for shard in manifest["shards"]]
    decode = _decode(stored)
    if not shuffle:
        blocks = tf.data.TFRecordDataset(files).map(decode)
    else:
        order = file_order(len(files), seed, epoch)
        blocks = tf.data.Dataset.from_tensor_slices([files[i] for i in order]).interleave(
            tf.data.TFRecordDataset,
            cycle_length=min(16, len(files)),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        blocks = blocks.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        windows = blocks.rebatch(int(buffer_size)).enumerate()

        def permute(window: tf.Tensor, pairs: tf.Tensor) -> tf.Tensor:
            index = tf.random.experimental.stateless_shuffle(
                tf.range(tf.shape(pairs)[0]), seed=window_seed(seed, epoch, window)
            )
            return tf.gather(pairs, index)

        blocks = windows.map(permute, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    # rebatch slices blocks (or windows) into batches without visiting samples one by one
    dataset = blocks.rebatch(int(batch_size), drop_remainder=drop_remainder)
    if dtype is not None and tf.as_dtype(dtype) != stored:
        dataset = dataset.map(lambda pairs: tf.cast(pairs, dtype))
    return dataset.map(_split).prefetch(tf.data.AUTOTUNE)


def read_all(data_dir: str) -> tuple[np.ndarray, np.ndarray]:
    """The whole set in memory, (x, y) of shape (n, 1): for tests and small sets only.

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> _ = write_shards(folder, 5, num_shards=2, seed=1)
        >>> x, y = read_all(folder)
        >>> bool(np.array_equal(x, data.sine_data(5, seed=1)[0]))
        True
    """
    x, y = next(iter(make_dataset(data_dir, read_manifest(data_dir)["samples"])))  # one batch
    return x.numpy(), y.numpy()


class StreamedBatches:
    """A :class:`~keras_lab.engine.batches.BatchSource`: the shards in ``data_dir``, one
    epoch per compiled call, through :func:`make_dataset` (shuffle on: the windowed order
    documented there, not :func:`keras_lab.lecture.gd.epoch_order`)."""

    capacity = 1  # epochs per compiled call
    input_signature = None  # a dataset: traced once per its type
    autograph = True  # fold is a Python for over the dataset

    def __init__(
        self,
        data_dir: str,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        drop_remainder: bool = False,
        dtype: str | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.num_samples = int(read_manifest(data_dir)["samples"])
        self.batch_size, _, _, self.steps_per_epoch = batching(
            self.num_samples, batch_size, drop_remainder
        )
        self.shuffle, self.seed, self.drop_remainder = bool(shuffle), int(seed), drop_remainder
        self.dtype = dtype

    def dataset(self, epoch: int, batch_size: int | None = None) -> tf.data.Dataset:
        """Epoch ``epoch``'s batches; with ``batch_size``, the set in order in such batches."""
        return make_dataset(
            self.data_dir,
            batch_size or self.batch_size,
            shuffle=self.shuffle and batch_size is None,
            seed=self.seed,
            epoch=epoch,
            drop_remainder=self.drop_remainder and batch_size is None,
            dtype=self.dtype,
        )

    def chunk(self, epoch: tf.Variable, num_epochs: int) -> tuple[tuple, int]:
        """((the dataset of the loop's ``epoch``,), 1): one epoch per compiled call."""
        return (self.dataset(int(epoch.numpy())),), 1

    @staticmethod
    def fold(
        inputs: tuple, update, carry: dict, first_epoch: tf.Tensor, static_shapes: bool = False
    ) -> dict:
        """:meth:`~keras_lab.engine.batches.BatchSource.fold` over the epoch's batches (epoch
        0 of the chunk), of dynamic size (a streamed chunk is never compiled whole)."""
        batch = tf.constant(0)
        for x_batch, y_batch in inputs[0]:
            if not running(carry):
                break
            carry = update(x_batch, y_batch, tf.constant(0), batch, carry)
            batch += 1
        return carry

    def evaluation_batches(self) -> tf.data.Dataset:
        """The whole set in order, in batches of 65536."""
        return self.dataset(0, batch_size=65536)

    def set_loss(self, losses: Losses, reduction: str) -> tf.Tensor:
        """:meth:`~keras_lab.engine.batches.BatchSource.set_loss`: each batch's losses
        summed in the model's dtype, the sums in float64."""
        total = count = tf.constant(0.0, tf.float64)
        for x_batch, y_batch in self.evaluation_batches():
            values = losses(x_batch, y_batch)
            total += tf.cast(tf.reduce_sum(values), tf.float64)
            count += tf.cast(tf.size(values), tf.float64)
        return total / count if reduction == "mean" else total
