"""Sequence models (PyTorch) for capacity-retention trajectories and cycle life.

:class:`SequenceRegressor` is one scikit-learn estimator over four networks that
read a per-cycle summary sequence of each cell, shape ``(n_cells, n_cycles,
n_features)``, and predict either one number per cell (e.g. log10 cycle life)
or a vector per cell (e.g. capacity retention at future cycles):

``"lstm"`` / ``"gru"``
    A (optionally bidirectional, multi-layer) recurrent network; the final
    hidden state(s) of the last layer feed a small MLP head.
``"attention_lstm"``
    An LSTM whose outputs are pooled by additive attention over the valid
    cycles (Bahdanau et al. 2015); the attention context and the final hidden
    state feed the head.
``"transformer"``
    A small Transformer encoder (Vaswani et al. 2017): linear input
    projection, sinusoidal position encoding by cycle index, padding-masked
    self-attention, then the masked mean and the last valid token feed the head.

Variable lengths are given by NaN padding: the trailing time steps whose
features are all NaN are padding and are masked out (packed sequences for the
recurrent networks, key-padding mask and masked pooling for the Transformer),
so a cell predicts the same with or without padding. A NaN inside the valid
part (a missing reading) is imputed with the training median of that feature.

Inputs are standardised inside the estimator with robust statistics (median
and IQR, so single-cycle outliers do not squash the scale) and clipped to
``input_clip`` scale units; targets with their mean and standard deviation.
Training uses Adam
on the mean squared error with early stopping on an internal validation split
of whole cells (rows of ``X``). Fits are reproducible: the global torch RNG is
forked and seeded with ``random_state`` and deterministic algorithms are on
during ``fit``. ``device="auto"`` trains on CUDA when it is available, else
on the CPU. Models are saved as a JSON configuration and a ``state_dict``
(``torch.save``), loaded with ``torch.load(weights_only=True)``; no pickle.

:func:`build_sequence_dataset` turns a per-cycle summary table of many cells
(``cell_id``, ``cycle_count``, ``discharge_capacity_ah``, ...) into ``(X, y)``:
the first ``window`` cycles of each cell -> capacity retention at later
cycles, or -> cycle life. One row per cell, so any split of its rows (e.g.
:func:`voltlab.data.splits.split_by_cell` on ``dataset.cell_ids``) keeps the
cycles of a cell on one side.

PyTorch is imported only inside this module's functions and methods, so
``import voltlab.models`` does not load it.
"""

from __future__ import annotations

import copy
import json
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator, RegressorMixin

from voltlab.errors import DataFormatError, DependencyError, MissingFileError, SchemaError
from voltlab.models.base import require_fitted

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DEFAULT_SEQUENCE_FEATURES",
    "SequenceDataset",
    "SequenceRegressor",
    "build_sequence_dataset",
    "pad_sequences",
]

ARCHITECTURES = ("lstm", "gru", "transformer", "attention_lstm")
_FORMAT = "voltlab.SequenceRegressor"
_FORMAT_VERSION = 1
_CONFIG_FILE = "config.json"
_WEIGHTS_FILE = "weights.pt"
_GRAD_CLIP = 1.0

#: Per-cycle summary columns used as sequence features by default (those present
#: in the table with at least one finite value).
DEFAULT_SEQUENCE_FEATURES: tuple[str, ...] = (
    "capacity_retention",
    "discharge_capacity_ah",
    "internal_resistance_ohm",
    "temperature_max_celsius",
    "temperature_mean_celsius",
    "charge_time_second",
    "charge_time_to_80pct_second",
)


# ---------------------------------------------------------------------------------------------- torch


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is in the test environment
        raise DependencyError(
            "PyTorch is needed for voltlab's sequence models but is not installed; install it with "
            "pip install 'voltlab[torch]' (the CPU wheel is enough)"
        ) from exc
    return torch


def _resolve_device(device: Any) -> Any:
    """``"auto"`` -> CUDA when available else CPU; otherwise a validated ``torch.device``."""
    torch = _torch()
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise DataFormatError(
            f"device must be 'auto', 'cpu', 'cuda' or 'cuda:<index>', got {device!r}", value=device
        ) from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DependencyError(
            f"device={device!r} asks for CUDA but torch.cuda.is_available() is False (torch "
            f"{torch.__version__}); use device='cpu' or device='auto'", value=device
        )
    if dev.type not in ("cpu", "cuda"):
        raise DataFormatError(f"device must be a CPU or CUDA device, got {device!r}", value=device)
    return dev


@lru_cache(maxsize=1)
def _network_classes() -> dict[str, Any]:
    """The torch ``nn.Module`` classes (defined on first use so that torch loads lazily)."""
    torch = _torch()
    nn = torch.nn
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    def valid_mask(lengths: Any, steps: int) -> Any:
        return torch.arange(steps, device=lengths.device)[None, :] < lengths[:, None]

    class RecurrentNet(nn.Module):  # type: ignore[misc, name-defined]
        """LSTM/GRU encoder (+ optional additive attention pooling) and an MLP head."""

        def __init__(
            self, cell: str, n_features: int, n_outputs: int, hidden_size: int, num_layers: int,
            bidirectional: bool, dropout: float, attention: bool,
        ) -> None:
            super().__init__()
            rnn = nn.LSTM if cell == "lstm" else nn.GRU
            self.rnn = rnn(
                n_features, hidden_size, num_layers=num_layers, batch_first=True,
                bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0,
            )
            self.bidirectional = bidirectional
            self.attention = attention
            width = hidden_size * (2 if bidirectional else 1)
            if attention:
                self.score = nn.Sequential(nn.Linear(width, width), nn.Tanh(), nn.Linear(width, 1, bias=False))
            head_in = 2 * width if attention else width
            self.head = nn.Sequential(
                nn.Dropout(dropout), nn.Linear(head_in, hidden_size), nn.ReLU(), nn.Linear(hidden_size, n_outputs)
            )

        def encode(self, x: Any, lengths: Any) -> tuple[Any, Any | None]:
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, h = self.rnn(packed)
            if isinstance(h, tuple):  # LSTM: (h_n, c_n)
                h = h[0]
            last = torch.cat([h[-2], h[-1]], dim=1) if self.bidirectional else h[-1]
            if not self.attention:
                return last, None
            seq, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
            scores = self.score(seq).squeeze(-1)
            scores = scores.masked_fill(~valid_mask(lengths, x.shape[1]), float("-inf"))
            weights = torch.softmax(scores, dim=1)
            context = torch.bmm(weights.unsqueeze(1), seq).squeeze(1)
            return torch.cat([last, context], dim=1), weights

        def forward(self, x: Any, lengths: Any) -> Any:
            return self.head(self.encode(x, lengths)[0])

    class TransformerNet(nn.Module):  # type: ignore[misc, name-defined]
        """Transformer encoder with sinusoidal positions, masked mean + last-token pooling."""

        def __init__(
            self, n_features: int, n_outputs: int, hidden_size: int, num_layers: int, n_heads: int,
            dropout: float,
        ) -> None:
            super().__init__()
            self.hidden_size = hidden_size
            self.project = nn.Linear(n_features, hidden_size)
            layer = nn.TransformerEncoderLayer(
                hidden_size, n_heads, dim_feedforward=2 * hidden_size, dropout=dropout, batch_first=True
            )
            self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
            self.head = nn.Sequential(
                nn.Dropout(dropout), nn.Linear(2 * hidden_size, hidden_size), nn.ReLU(),
                nn.Linear(hidden_size, n_outputs),
            )

        def positions(self, steps: int, device: Any) -> Any:
            pos = torch.arange(steps, device=device, dtype=torch.float32)[:, None]
            i = torch.arange(0, self.hidden_size, 2, device=device, dtype=torch.float32)
            angle = pos * torch.exp(-math.log(10000.0) * i / self.hidden_size)
            pe = torch.zeros(steps, self.hidden_size, device=device)
            pe[:, 0::2] = torch.sin(angle)
            pe[:, 1::2] = torch.cos(angle[:, : self.hidden_size // 2])
            return pe

        def forward(self, x: Any, lengths: Any) -> Any:
            steps = x.shape[1]
            valid = valid_mask(lengths, steps)
            h = self.project(x) + self.positions(steps, x.device)
            h = self.encoder(h, src_key_padding_mask=~valid)
            h = h.masked_fill(~valid.unsqueeze(-1), 0.0)
            mean = h.sum(dim=1) / lengths[:, None].to(h.dtype)
            last = h[torch.arange(h.shape[0], device=h.device), lengths - 1]
            return self.head(torch.cat([mean, last], dim=1))

    return {"RecurrentNet": RecurrentNet, "TransformerNet": TransformerNet}


def _build_network(params: Mapping[str, Any], n_features: int, n_outputs: int) -> Any:
    classes = _network_classes()
    arch = params["arch"]
    if arch == "transformer":
        return classes["TransformerNet"](
            n_features, n_outputs, params["hidden_size"], params["num_layers"], params["n_heads"],
            params["dropout"],
        )
    cell = "gru" if arch == "gru" else "lstm"
    return classes["RecurrentNet"](
        cell, n_features, n_outputs, params["hidden_size"], params["num_layers"], bool(params["bidirectional"]),
        params["dropout"], arch == "attention_lstm",
    )


# -------------------------------------------------------------------------------------- validation


def _sequence_lengths(x: npt.NDArray[np.float64], name: str) -> npt.NDArray[np.int64]:
    """Length of each sequence: up to its last time step with any finite feature."""
    has: npt.NDArray[np.bool_] = np.any(np.isfinite(x), axis=2)
    empty = np.flatnonzero(~np.any(has, axis=1))
    if empty.size:
        raise DataFormatError(
            f"{name}[{int(empty[0])}] has no finite value at any time step; drop that cell or give it data",
            row=int(empty[0]),
        )
    return (x.shape[1] - np.argmax(has[:, ::-1], axis=1)).astype(np.int64)


def _check_sequences(X: npt.ArrayLike, name: str = "X") -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Validate a (n_cells, n_cycles, n_features) array; return it (float64) and the lengths."""
    try:
        x = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataFormatError(
            f"{name} must be a numeric array of shape (n_cells, n_cycles, n_features) ({exc}); "
            "use voltlab.models.pad_sequences for sequences of different lengths"
        ) from exc
    if x.ndim != 3:
        raise DataFormatError(
            f"{name} must be 3-D (n_cells, n_cycles, n_features), got shape {x.shape}; for a single "
            f"feature use {name}[..., None], for ragged sequences use voltlab.models.pad_sequences",
            value=x.shape,
        )
    if x.shape[0] == 0 or x.shape[1] == 0 or x.shape[2] == 0:
        raise DataFormatError(f"{name} is empty (shape {x.shape}); it needs cells, cycles and features",
                              value=x.shape)
    if np.isinf(x).any():
        c, t, f = np.argwhere(np.isinf(x))[0]
        raise DataFormatError(
            f"{name}[{c}, {t}, {f}] is infinite; use NaN for missing values and trailing padding",
            row=int(c), value=float(x[c, t, f]),
        )
    return x, _sequence_lengths(x, name)


def _check_target(y: npt.ArrayLike, n_cells: int) -> npt.NDArray[np.float64]:
    try:
        t = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataFormatError(f"y must be numeric ({exc})") from exc
    if t.ndim not in (1, 2):
        raise DataFormatError(
            f"y must be 1-D (n_cells,) or 2-D (n_cells, horizon), got shape {t.shape}", value=t.shape
        )
    if t.shape[0] != n_cells:
        raise DataFormatError(
            f"X has {n_cells} cells (rows) but y has {t.shape[0]}; they must match, one target row per cell",
            value=t.shape[0],
        )
    if t.ndim == 2 and t.shape[1] == 0:
        raise DataFormatError("y has no columns; give at least one target per cell", value=t.shape)
    if not np.isfinite(t).all():
        r = int(np.argwhere(~np.isfinite(t))[0][0])
        raise DataFormatError(f"y has a non-finite value at row {r}; drop that cell or fill its target", row=r)
    return t


def _scale(values: npt.NDArray[np.float64]) -> tuple[np.ndarray, np.ndarray]:
    """Column mean and standard deviation (1 where the spread is nil), NaN ignored."""
    mean = np.nanmean(values, axis=0)
    std = np.nanstd(values, axis=0)
    std = np.where(np.isfinite(std) & (std > 1e-12 * np.maximum(1.0, np.abs(mean))), std, 1.0)
    return mean, std


def _robust_scale(values: npt.NDArray[np.float64]) -> tuple[np.ndarray, np.ndarray]:
    """Column median and IQR / 1.349 (the standard deviation of a normal sample, robust to
    outliers); the standard deviation where the IQR is nil, 1 where both are."""
    center = np.nanmedian(values, axis=0)
    q25, q75 = np.nanpercentile(values, [25.0, 75.0], axis=0)
    scale = (q75 - q25) / 1.349
    _, std = _scale(values)
    tiny = 1e-12 * np.maximum(1.0, np.abs(center))
    scale = np.where(np.isfinite(scale) & (scale > tiny), scale, std)
    return center, scale


# ------------------------------------------------------------------------------------------- model


class SequenceRegressor(RegressorMixin, BaseEstimator):
    """LSTM, GRU, attention-LSTM or Transformer regressor on per-cycle sequences.

    Parameters
    ----------
    arch
        ``"lstm"``, ``"gru"``, ``"attention_lstm"`` or ``"transformer"``.
    hidden_size
        Width of the recurrent state / Transformer model dimension (and of the
        head's hidden layer).
    num_layers
        Stacked recurrent or encoder layers.
    bidirectional
        Bidirectional LSTM/GRU (``"lstm"``, ``"gru"``, ``"attention_lstm"``
        only; the Transformer already sees both directions).
    dropout
        Dropout probability (between stacked layers and before the head).
    n_heads
        Attention heads of the Transformer; must divide ``hidden_size``.
    epochs
        Maximum passes over the training cells.
    lr
        Adam learning rate.
    batch_size
        Cells per mini-batch.
    weight_decay
        Adam L2 penalty.
    validation_fraction
        Share of the cells (rows of ``X``) held out, chosen with
        ``random_state``, for early stopping; 0 trains for ``epochs`` without
        early stopping and keeps the last weights.
    patience
        Epochs without a lower validation loss before stopping; the weights of
        the best epoch are kept.
    input_clip
        Standardised inputs are clipped to ``[-input_clip, input_clip]`` so
        that a stray reading (e.g. a charge time 40x the usual) cannot dominate;
        ``None`` disables clipping.
    random_state
        Seed of weight initialisation, dropout, validation split and batch
        order. ``None`` draws a fresh seed.
    device
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or
        ``"cuda:<index>"``.

    Attributes
    ----------
    network_
        The trained ``torch.nn.Module`` (on ``device_``, in eval mode).
    device_
        Device it runs on (``str``).
    n_features_in_, n_outputs_
        Features per time step and targets per cell.
    x_mean_, x_scale_
        Feature centre (median) and scale (IQR / 1.349, the standard deviation
        where the IQR is 0) over all valid cycles, shape (n_features,).
    y_mean_, y_scale_
        Target standardisation, shape (n_outputs,).
    history_
        ``{"train_loss": [...], "val_loss": [...]}``, standardised MSE per epoch.
    best_epoch_, n_epochs_
        Epoch (1-based) whose weights were kept and epochs run.
    seed_
        Seed actually used.

    Notes
    -----
    Determinism: with an integer ``random_state`` two fits on the CPU give
    identical predictions (same torch version and thread count). On CUDA,
    deterministic algorithms are requested with ``warn_only=True``: cuDNN RNNs
    can still differ in the last bits between runs.

    Examples
    --------
    >>> import numpy as np
    >>> from voltlab.models import SequenceRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 12, 2))
    >>> y = X[:, -3:, 0].mean(axis=1)
    >>> model = SequenceRegressor("gru", hidden_size=8, epochs=3, device="cpu").fit(X, y)
    >>> model.predict(X).shape
    (40,)
    """

    def __init__(
        self,
        arch: str = "lstm",
        hidden_size: int = 32,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        n_heads: int = 4,
        epochs: int = 200,
        lr: float = 3e-3,
        batch_size: int = 32,
        weight_decay: float = 0.0,
        validation_fraction: float = 0.2,
        patience: int = 20,
        input_clip: float | None = 10.0,
        random_state: int | None = 0,
        device: str = "auto",
    ) -> None:
        self.arch = arch
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.n_heads = n_heads
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.input_clip = input_clip
        self.random_state = random_state
        self.device = device

    # ------------------------------------------------------------------ parameters

    def _check_params(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise DataFormatError(
                f"arch must be one of {ARCHITECTURES}, got {self.arch!r}", value=self.arch
            )
        for name in ("hidden_size", "num_layers", "epochs", "batch_size", "n_heads", "patience"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
                raise DataFormatError(f"{name} must be a positive integer, got {v!r}", value=v)
        for name, low, high in (("dropout", 0.0, 1.0), ("validation_fraction", 0.0, 1.0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not low <= v < high:
                raise DataFormatError(f"{name} must be in [{low:g}, {high:g}), got {v!r}", value=v)
        for name in ("lr", "weight_decay"):
            v = getattr(self, name)
            ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            if not ok or v < 0 or (name == "lr" and v == 0):
                raise DataFormatError(f"{name} must be a finite {'positive' if name == 'lr' else 'non-negative'} "
                                      f"number, got {v!r}", value=v)
        if self.arch == "transformer":
            if self.bidirectional:
                raise DataFormatError(
                    "bidirectional applies to 'lstm', 'gru' and 'attention_lstm'; the Transformer already "
                    "attends in both directions: set bidirectional=False", value=self.bidirectional
                )
            if self.hidden_size % self.n_heads or self.hidden_size % 2:
                raise DataFormatError(
                    f"hidden_size ({self.hidden_size}) must be even and divisible by n_heads ({self.n_heads}) "
                    "for the Transformer", value=self.hidden_size
                )
        clip = self.input_clip
        if clip is not None and (isinstance(clip, bool) or not isinstance(clip, int | float) or not clip > 0
                                 or not math.isfinite(clip)):
            raise DataFormatError(f"input_clip must be a positive number or None, got {clip!r}", value=clip)
        rs = self.random_state
        if rs is not None and (isinstance(rs, bool) or not isinstance(rs, int | np.integer) or rs < 0):
            raise DataFormatError(f"random_state must be a non-negative integer or None, got {rs!r}", value=rs)

    def _net_params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("arch", "hidden_size", "num_layers", "bidirectional", "dropout",
                                              "n_heads")}

    # ------------------------------------------------------------------ data

    def _standardise_x(
        self, x: npt.NDArray[np.float64], center: np.ndarray | None = None, scale: np.ndarray | None = None
    ) -> npt.NDArray[np.float32]:
        z = (x - (self.x_mean_ if center is None else center)) / (self.x_scale_ if scale is None else scale)
        if self.input_clip is not None:
            z = np.clip(z, -self.input_clip, self.input_clip)
        return np.nan_to_num(z, nan=0.0).astype(np.float32)

    # ------------------------------------------------------------------ fit / predict

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike) -> SequenceRegressor:
        """Train on per-cycle sequences.

        Parameters
        ----------
        X
            Shape (n_cells, n_cycles, n_features); trailing all-NaN steps are
            padding (variable lengths), other NaN are imputed with the feature's
            training median.
        y
            Shape (n_cells,) (one target per cell, e.g. log10 cycle life) or
            (n_cells, horizon) (e.g. retention at future cycles).

        Returns
        -------
        SequenceRegressor
            ``self``, fitted.

        Raises
        ------
        DataFormatError
            Bad hyperparameters, wrong shapes, infinite values, a cell without
            data, non-finite targets or fewer than 2 cells.
        DependencyError
            PyTorch missing, or CUDA requested but unavailable.
        """
        self._check_params()
        x, lengths = _check_sequences(X)
        t = _check_target(y, x.shape[0])
        if x.shape[0] < 2:
            raise DataFormatError(f"fit needs at least 2 cells, got {x.shape[0]}", value=x.shape[0])
        torch = _torch()
        device = _resolve_device(self.device)
        seed = int(self.random_state) if self.random_state is not None else int(
            np.random.default_rng().integers(2**31 - 1))

        valid_steps = np.arange(x.shape[1])[None, :] < lengths[:, None]
        with warnings.catch_warnings():  # an all-NaN feature is reported below
            warnings.simplefilter("ignore", RuntimeWarning)
            x_mean, x_scale = _robust_scale(x[valid_steps])
        if not np.isfinite(x_mean).all():
            j = int(np.flatnonzero(~np.isfinite(x_mean))[0])
            raise DataFormatError(f"feature {j} of X is NaN in every cell and cycle; drop it", value=j)
        t2 = t.reshape(t.shape[0], -1)
        y_mean, y_scale = _scale(t2)
        xz = self._standardise_x(x, x_mean, x_scale)
        yz = ((t2 - y_mean) / y_scale).astype(np.float32)
        rng = np.random.default_rng(seed)
        n = x.shape[0]
        n_val = 0
        if self.validation_fraction > 0:
            n_val = min(max(1, round(self.validation_fraction * n)), n - 1)
        order = rng.permutation(n)
        val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])

        cuda_devices = [device.index if device.index is not None else torch.cuda.current_device()] \
            if device.type == "cuda" else []
        prev_det = torch.are_deterministic_algorithms_enabled()
        prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
        with torch.random.fork_rng(devices=cuda_devices):
            torch.manual_seed(seed)
            torch.use_deterministic_algorithms(True, warn_only=device.type != "cpu")
            try:
                net, history, best_epoch = self._train(torch, device, xz, yz, lengths, train_idx, val_idx, rng)
            finally:
                torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)
        self.n_features_in_ = int(x.shape[2])
        self.n_outputs_ = int(t2.shape[1])
        self.y_ndim_ = int(t.ndim)
        self.x_mean_, self.x_scale_ = x_mean, x_scale
        self.y_mean_, self.y_scale_ = y_mean, y_scale
        self.seed_ = seed
        self.network_ = net
        self.device_ = str(device)
        self.history_ = history
        self.best_epoch_ = best_epoch
        self.n_epochs_ = len(history["train_loss"])
        return self

    def _train(
        self, torch: Any, device: Any, xz: np.ndarray, yz: np.ndarray, lengths: np.ndarray,
        train_idx: np.ndarray, val_idx: np.ndarray, rng: np.random.Generator,
    ) -> tuple[Any, dict[str, list[float]], int]:
        net = _build_network(self._net_params(), xz.shape[2], yz.shape[1]).to(device)
        opt = torch.optim.Adam(net.parameters(), lr=float(self.lr), weight_decay=float(self.weight_decay))
        xt = torch.as_tensor(xz, device=device)
        yt = torch.as_tensor(yz, device=device)
        lt = torch.as_tensor(lengths, dtype=torch.int64, device=device)
        history: dict[str, list[float]] = {"train_loss": [], "val_loss": []}
        best_loss, best_epoch, best_state, stale = math.inf, 0, None, 0
        for epoch in range(1, int(self.epochs) + 1):
            net.train()
            perm = train_idx[rng.permutation(train_idx.size)]
            total = 0.0
            for start in range(0, perm.size, int(self.batch_size)):
                b = torch.as_tensor(perm[start:start + int(self.batch_size)], device=device)
                opt.zero_grad(set_to_none=True)
                loss = torch.nn.functional.mse_loss(net(xt[b], lt[b]), yt[b])
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), _GRAD_CLIP)
                opt.step()
                total += float(loss.detach()) * b.numel()
            history["train_loss"].append(total / perm.size)
            if val_idx.size == 0:
                best_epoch = epoch
                continue
            val = self._loss(torch, net, xt, yt, lt, val_idx, device)
            history["val_loss"].append(val)
            if val < best_loss:
                best_loss, best_epoch, stale = val, epoch, 0
                best_state = copy.deepcopy(net.state_dict())
            else:
                stale += 1
                if stale >= int(self.patience):
                    break
        if best_state is not None:
            net.load_state_dict(best_state)
        net.eval()
        return net, history, best_epoch

    @staticmethod
    def _loss(torch: Any, net: Any, xt: Any, yt: Any, lt: Any, idx: np.ndarray, device: Any) -> float:
        net.eval()
        with torch.no_grad():
            b = torch.as_tensor(idx, device=device)
            return float(torch.nn.functional.mse_loss(net(xt[b], lt[b]), yt[b]))

    def _forward(self, X: npt.ArrayLike, attention: bool = False) -> np.ndarray:
        require_fitted(self, "network_", "x_mean_")
        x, lengths = _check_sequences(X)
        if x.shape[2] != self.n_features_in_:
            raise DataFormatError(
                f"X has {x.shape[2]} features per cycle but this {type(self).__name__} was fitted with "
                f"{self.n_features_in_}; pass the same features in the same order", value=x.shape[2]
            )
        torch = _torch()
        xz = self._standardise_x(x)
        net = self.network_
        net.eval()
        device = next(net.parameters()).device
        out = []
        with torch.no_grad():
            for start in range(0, x.shape[0], 1024):
                xb = torch.as_tensor(xz[start:start + 1024], device=device)
                lb = torch.as_tensor(lengths[start:start + 1024], dtype=torch.int64, device=device)
                if attention:
                    _, w = net.encode(xb, lb)
                    out.append(w.cpu().numpy().astype(np.float64))
                else:
                    out.append(net(xb, lb).cpu().numpy().astype(np.float64))
        return np.concatenate(out, axis=0)

    def predict(self, X: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Predict targets of new cells.

        Parameters
        ----------
        X
            Shape (n_cells, n_cycles, n_features), NaN-padded like in ``fit``;
            ``n_cycles`` may differ from the training data.

        Returns
        -------
        numpy.ndarray
            Shape (n_cells,) if ``fit`` got a 1-D ``y``, else (n_cells, horizon),
            in the units of ``y``.

        Raises
        ------
        NotFittedError
            ``fit`` was not called.
        DataFormatError
            Wrong shape or number of features.
        """
        z = self._forward(X)
        pred = z * self.y_scale_ + self.y_mean_
        return pred[:, 0] if self.y_ndim_ == 1 else pred

    def attention_weights(self, X: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Attention weight of every cycle (``arch="attention_lstm"`` only).

        Returns
        -------
        numpy.ndarray
            Shape (n_cells, n_cycles); each row sums to 1 over the valid cycles
            and is 0 on padding.
        """
        require_fitted(self, "network_", "x_mean_")
        if self.arch != "attention_lstm":
            raise DataFormatError(
                f"attention_weights needs arch='attention_lstm', this model is {self.arch!r}", value=self.arch
            )
        return self._forward(X, attention=True)

    # ------------------------------------------------------------------ persistence

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Save to the folder ``path``: ``config.json`` and ``weights.pt`` (a ``state_dict``).

        Returns
        -------
        pathlib.Path
            The folder.
        """
        require_fitted(self, "network_", "x_mean_")
        torch = _torch()
        folder = Path(path)
        if folder.exists() and not folder.is_dir():
            raise DataFormatError("save needs a folder path, but a file exists there; choose another path",
                                  path=folder)
        folder.mkdir(parents=True, exist_ok=True)
        config = {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "params": self.get_params(),
            "n_features_in": self.n_features_in_,
            "n_outputs": self.n_outputs_,
            "y_ndim": self.y_ndim_,
            "x_mean": self.x_mean_.tolist(),
            "x_scale": self.x_scale_.tolist(),
            "y_mean": self.y_mean_.tolist(),
            "y_scale": self.y_scale_.tolist(),
            "seed": self.seed_,
            "best_epoch": self.best_epoch_,
            "n_epochs": self.n_epochs_,
            "history": self.history_,
            "torch_version": torch.__version__,
        }
        (folder / _CONFIG_FILE).write_text(json.dumps(config, indent=1))
        state = {k: v.detach().cpu() for k, v in self.network_.state_dict().items()}
        torch.save(state, folder / _WEIGHTS_FILE)
        return folder

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, device: str = "auto") -> SequenceRegressor:
        """Load a model written by :meth:`save` (``torch.load(weights_only=True)``, no pickle).

        Parameters
        ----------
        path
            The folder given to :meth:`save`.
        device
            Where to put the network (see the class parameter ``device``).

        Raises
        ------
        MissingFileError
            ``config.json`` or ``weights.pt`` is missing.
        DataFormatError
            The files are not a voltlab SequenceRegressor or do not match.
        """
        torch = _torch()
        folder = Path(path)
        for name in (_CONFIG_FILE, _WEIGHTS_FILE):
            if not (folder / name).is_file():
                raise MissingFileError(
                    f"no {name} here; pass the folder written by SequenceRegressor.save", path=folder / name
                )
        try:
            config = json.loads((folder / _CONFIG_FILE).read_text())
            if config.get("format") != _FORMAT or config.get("format_version") != _FORMAT_VERSION:
                raise DataFormatError(
                    f"not a {_FORMAT} v{_FORMAT_VERSION} configuration (format {config.get('format')!r}, "
                    f"version {config.get('format_version')!r})", path=folder / _CONFIG_FILE
                )
            params = dict(config["params"])
            params["device"] = device
            est = cls(**params)
            est._check_params()
            dev = _resolve_device(device)
            net = _build_network(est._net_params(), int(config["n_features_in"]), int(config["n_outputs"]))
            state = torch.load(folder / _WEIGHTS_FILE, map_location="cpu", weights_only=True)
            net.load_state_dict(state)
        except (KeyError, TypeError, ValueError, RuntimeError, json.JSONDecodeError) as exc:
            if isinstance(exc, DataFormatError):
                raise
            raise DataFormatError(f"cannot load the saved SequenceRegressor ({type(exc).__name__}: {exc})",
                                  path=folder) from exc
        est.network_ = net.to(dev).eval()
        est.device_ = str(dev)
        est.n_features_in_ = int(config["n_features_in"])
        est.n_outputs_ = int(config["n_outputs"])
        est.y_ndim_ = int(config["y_ndim"])
        est.x_mean_ = np.asarray(config["x_mean"], dtype=np.float64)
        est.x_scale_ = np.asarray(config["x_scale"], dtype=np.float64)
        est.y_mean_ = np.asarray(config["y_mean"], dtype=np.float64)
        est.y_scale_ = np.asarray(config["y_scale"], dtype=np.float64)
        est.seed_ = int(config["seed"])
        est.best_epoch_ = int(config["best_epoch"])
        est.n_epochs_ = int(config["n_epochs"])
        est.history_ = {k: [float(v) for v in vals] for k, vals in config["history"].items()}
        return est


# ------------------------------------------------------------------------------------ data helpers


def pad_sequences(
    sequences: Sequence[npt.ArrayLike], length: int | None = None
) -> npt.NDArray[np.float64]:
    """Stack per-cell sequences of different lengths into a NaN-padded 3-D array.

    Parameters
    ----------
    sequences
        One array per cell, shape (n_cycles_i, n_features) (or (n_cycles_i,)
        for a single feature).
    length
        Time steps of the output; default the longest sequence. Longer
        sequences are cut to their first ``length`` steps.

    Returns
    -------
    numpy.ndarray
        Shape (n_cells, length, n_features); NaN after each sequence's end.

    Examples
    --------
    >>> pad_sequences([[1.0, 2.0], [3.0]])[:, :, 0]
    array([[ 1.,  2.],
           [ 3., nan]])
    """
    arrays = []
    for i, s in enumerate(sequences):
        try:
            a = np.asarray(s, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise DataFormatError(f"sequence {i} is not numeric ({exc})", row=i) from exc
        if a.ndim == 1:
            a = a[:, None]
        if a.ndim != 2 or a.shape[0] == 0:
            raise DataFormatError(
                f"sequence {i} must be a non-empty (n_cycles, n_features) array, got shape {a.shape}", row=i
            )
        arrays.append(a)
    if not arrays:
        raise DataFormatError("no sequences given; pass one (n_cycles, n_features) array per cell")
    widths = {a.shape[1] for a in arrays}
    if len(widths) > 1:
        raise DataFormatError(f"sequences have different numbers of features {sorted(widths)}; they must match")
    steps = max(a.shape[0] for a in arrays) if length is None else length
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 1:
        raise DataFormatError(f"length must be a positive integer, got {length!r}", value=length)
    out = np.full((len(arrays), int(steps), arrays[0].shape[1]), np.nan)
    for i, a in enumerate(arrays):
        n = min(a.shape[0], int(steps))
        out[i, :n] = a[:n]
    return out


@dataclass(frozen=True, slots=True, eq=False)
class SequenceDataset:
    """Per-cell sequences and targets built by :func:`build_sequence_dataset`.

    Attributes
    ----------
    X
        Shape (n_cells, n_steps, n_features): step ``j`` is cycle ``cycles[j]``;
        NaN where a cycle is missing or after the cell's data ends.
    y
        Shape (n_cells, n_targets) of capacity retention (fraction) at
        ``target_cycles``, or (n_cells,) of cycle life (cycles) or its log10.
    cell_ids
        Cell of each row.
    feature_names
        Column of the summary behind each feature.
    cycles
        Cycle number of each time step, shape (n_steps,).
    target
        ``"retention"``, ``"cycle_life"`` or ``"log10_cycle_life"``.
    target_cycles
        Cycles of the retention targets, shape (n_targets,) (empty otherwise).
    dropped
        Cell id -> why it is not in the data set.
    """

    X: npt.NDArray[np.float64]
    y: npt.NDArray[np.float64]
    cell_ids: tuple[str, ...]
    feature_names: tuple[str, ...]
    cycles: npt.NDArray[np.int64]
    target: str
    target_cycles: npt.NDArray[np.int64]
    dropped: Mapping[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.cell_ids)

    @property
    def lengths(self) -> npt.NDArray[np.int64]:
        """Valid time steps of each cell (up to its last cycle with data), shape (n_cells,)."""
        return _sequence_lengths(self.X, "X")

    def subset(self, cell_ids: Sequence[str]) -> SequenceDataset:
        """The rows of the given cells (in that order), e.g. one side of a split by cell."""
        pos = {c: i for i, c in enumerate(self.cell_ids)}
        unknown = [c for c in cell_ids if c not in pos]
        if unknown:
            raise DataFormatError(
                f"cells {unknown[:5]} are not in this data set (it has {len(self)} cells; dropped: "
                f"{ {c: self.dropped[c] for c in unknown[:5] if c in self.dropped} })",
                value=unknown[0],
            )
        idx = np.asarray([pos[c] for c in cell_ids], dtype=np.intp)
        return SequenceDataset(
            X=self.X[idx], y=self.y[idx], cell_ids=tuple(self.cell_ids[i] for i in idx),
            feature_names=self.feature_names, cycles=self.cycles, target=self.target,
            target_cycles=self.target_cycles, dropped=dict(self.dropped),
        )


_TARGETS = ("retention", "cycle_life", "log10_cycle_life")


def _retention(
    frame: pd.DataFrame, cells: pd.Series, cycles: np.ndarray, start_cycle: int, reference_cycles: int,
    capacity_column: str,
) -> np.ndarray:
    """Discharge capacity / median of the cell's first ``reference_cycles`` valid cycles."""
    import pandas as pd

    q = frame[capacity_column].to_numpy(dtype=np.float64)
    ok = np.isfinite(q) & (q > 0) & (cycles >= start_cycle)
    ref_frame = pd.DataFrame({"cell": cells.to_numpy()[ok], "cycle": cycles[ok], "q": q[ok]})
    ref_frame = ref_frame.sort_values(["cell", "cycle"], kind="stable")
    ref = ref_frame.groupby("cell", sort=False)["q"].apply(lambda s: float(np.median(s.iloc[:reference_cycles])))
    return q / cells.map(ref).to_numpy(dtype=np.float64)


def build_sequence_dataset(
    summary: pd.DataFrame,
    *,
    window: int = 100,
    target: str = "retention",
    target_cycles: Sequence[int] | None = None,
    cycle_life: Mapping[str, float] | pd.Series | None = None,
    features: Sequence[str] | None = None,
    start_cycle: int = 1,
    smooth_cycles: int = 5,
    reference_cycles: int = 5,
    min_cycles: int = 10,
    cell_column: str = "cell_id",
    cycle_column: str = "cycle_count",
    capacity_column: str = "discharge_capacity_ah",
) -> SequenceDataset:
    """Sequences of the first cycles of many cells and their future targets.

    Parameters
    ----------
    summary
        Per-cycle summary of many cells, one row per (cell, cycle), e.g.
        :func:`voltlab.data.summary.cycle_summary` outputs concatenated, or
        :func:`voltlab.data.datasets.severson.load_severson_batch1_summary`.
        Rows with ``is_placeholder`` or ``is_outlier`` True are ignored (run
        :func:`voltlab.data.cleaning.flag_cycles` per cell first to drop
        outlier cycles).
    window
        Last input cycle: ``X`` holds cycles ``start_cycle..window``.
    target
        ``"retention"`` (capacity retention at ``target_cycles``, fraction),
        ``"cycle_life"`` (cycles, from ``cycle_life``) or ``"log10_cycle_life"``.
    target_cycles
        Cycles (all > ``window``) whose retention is predicted; each value is
        the median retention over the cycles within ``smooth_cycles // 2`` of
        it (robust to single-cycle outliers).
    cycle_life
        Cell id -> cycle life (cycles), for the cycle-life targets.
    features
        Summary columns used as features; default the
        :data:`DEFAULT_SEQUENCE_FEATURES` present with data.
        ``"capacity_retention"`` is computed when the table lacks it.
    start_cycle
        First input cycle.
    smooth_cycles
        Width (cycles) of the median window of retention targets.
    reference_cycles
        Retention (when computed here) is the discharge capacity divided by the
        median of the cell's first ``reference_cycles`` valid cycles from
        ``start_cycle`` on.
    min_cycles
        Cells with fewer input cycles with data are dropped.
    cell_column, cycle_column, capacity_column
        Column names.

    Returns
    -------
    SequenceDataset
        One row per kept cell (in order of first appearance); ``dropped`` says
        why the others were left out (too few cycles, data ending before a
        target cycle, no cycle life given).

    Raises
    ------
    SchemaError
        Missing columns.
    DataFormatError
        Bad arguments, duplicated (cell, cycle) rows, or no cell left.

    Notes
    -----
    Cells whose data ends before a retention target cycle (e.g. tests stopped
    at end of life) are dropped, which favours longer-lived cells: predict
    cycle life instead, or choose target cycles every cell reaches.
    """
    import pandas as pd

    if not isinstance(summary, pd.DataFrame):
        raise DataFormatError(f"summary must be a pandas DataFrame, got {type(summary).__name__}")
    for name, v, low in (("window", window, 1), ("start_cycle", start_cycle, 0), ("smooth_cycles", smooth_cycles, 1),
                         ("reference_cycles", reference_cycles, 1), ("min_cycles", min_cycles, 1)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < low:
            raise DataFormatError(f"{name} must be an integer >= {low}, got {v!r}", value=v)
    if window < start_cycle:
        raise DataFormatError(f"window ({window}) must be >= start_cycle ({start_cycle})", value=window)
    if target not in _TARGETS:
        raise DataFormatError(f"target must be one of {_TARGETS}, got {target!r}", value=target)
    tcycles = np.zeros(0, dtype=np.int64)
    if target == "retention":
        if target_cycles is None or len(target_cycles) == 0:
            raise DataFormatError("target='retention' needs target_cycles, e.g. target_cycles=[200, 300, 400]")
        tcycles = np.asarray(target_cycles)
        if tcycles.ndim != 1 or not np.issubdtype(tcycles.dtype, np.integer) or (tcycles <= window).any():
            raise DataFormatError(
                f"target_cycles must be integer cycles after the input window (> {window}), got "
                f"{list(np.ravel(target_cycles))}", value=list(np.ravel(target_cycles))
            )
        tcycles = tcycles.astype(np.int64)
    elif cycle_life is None:
        raise DataFormatError(f"target={target!r} needs cycle_life: a mapping cell id -> cycle life (cycles)")

    needed = [cell_column, cycle_column]
    missing_cols = [c for c in needed if c not in summary.columns]
    if missing_cols:
        raise SchemaError(f"summary lacks the columns {missing_cols} (has {list(summary.columns)})",
                          column=missing_cols[0])
    frame = summary
    for flag in ("is_placeholder", "is_outlier"):
        if flag in frame.columns:
            frame = frame.loc[~frame[flag].astype("boolean").fillna(False).to_numpy(dtype=bool)]
    cells = frame[cell_column].astype(str)
    cycles = pd.to_numeric(frame[cycle_column], errors="coerce").to_numpy(dtype=np.float64)
    if not np.isfinite(cycles).all() or (cycles != np.round(cycles)).any():
        r = int(np.flatnonzero(~np.isfinite(cycles) | (cycles != np.round(cycles)))[0])
        raise DataFormatError(f"cycle numbers must be integers; row {r} has {frame[cycle_column].iloc[r]!r}",
                              row=r, column=cycle_column)
    cycles = cycles.astype(np.int64)
    dup = pd.Series(list(zip(cells, cycles, strict=True))).duplicated().to_numpy()
    if dup.any():
        r = int(np.flatnonzero(dup)[0])
        raise DataFormatError(
            f"cell {cells.iloc[r]!r} has cycle {cycles[r]} twice; keep one row per (cell, cycle)",
            row=r, column=cycle_column,
        )

    has_retention = "capacity_retention" in frame.columns and frame["capacity_retention"].notna().any()
    needs_retention = target == "retention" or features is None or "capacity_retention" in features
    columns: dict[str, np.ndarray] = {}
    if has_retention:
        columns["capacity_retention"] = pd.to_numeric(frame["capacity_retention"], errors="coerce").to_numpy(
            dtype=np.float64)
    elif needs_retention:
        if capacity_column not in frame.columns:
            raise SchemaError(
                f"summary has neither 'capacity_retention' nor {capacity_column!r} to compute it",
                column=capacity_column,
            )
        columns["capacity_retention"] = _retention(
            frame, cells, cycles, start_cycle, reference_cycles, capacity_column)

    if features is None:
        names = [
            c for c in DEFAULT_SEQUENCE_FEATURES
            if c in columns or (c in frame.columns and pd.to_numeric(frame[c], errors="coerce").notna().any())
        ]
    else:
        names = [str(c) for c in features]
        if not names:
            raise DataFormatError("features is empty; give at least one summary column")
        absent = [c for c in names if c not in columns and c not in frame.columns]
        if absent:
            raise SchemaError(f"summary lacks the feature columns {absent} (has {list(frame.columns)})",
                              column=absent[0])
    for c in names:
        if c not in columns:
            columns[c] = pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=np.float64)

    n_steps = window - start_cycle + 1
    step_cycles = np.arange(start_cycle, window + 1, dtype=np.int64)
    order = pd.unique(cells)
    codes = pd.Categorical(cells, categories=order).codes
    in_window = (cycles >= start_cycle) & (cycles <= window)
    X_all = np.full((len(order), n_steps, len(names)), np.nan)
    for j, c in enumerate(names):
        X_all[codes[in_window], cycles[in_window] - start_cycle, j] = columns[c][in_window]

    dropped: dict[str, str] = {}
    counts = np.isfinite(X_all).any(axis=2).sum(axis=1)
    y_all = np.full((len(order), max(1, tcycles.size)), np.nan)
    if target == "retention":
        ret = columns["capacity_retention"]
        half = smooth_cycles // 2
        last_cycle = pd.Series(cycles).groupby(codes).max().reindex(range(len(order))).to_numpy()
        for k, tc in enumerate(tcycles):
            near = np.abs(cycles - tc) <= half
            med = pd.Series(ret[near]).groupby(codes[near]).median()
            y_all[med.index.to_numpy(), k] = med.to_numpy()
        for i, cell in enumerate(order):
            if not np.isfinite(y_all[i]).all():
                miss = int(tcycles[np.flatnonzero(~np.isfinite(y_all[i]))[0]])
                dropped[cell] = (f"no retention within {half} cycles of target cycle {miss} (data ends at "
                                 f"cycle {int(last_cycle[i])})")
    else:
        lives = cycle_life if isinstance(cycle_life, pd.Series) else pd.Series(dict(cycle_life or {}))
        lives = pd.to_numeric(pd.Series(lives.to_numpy(), index=lives.index.astype(str)), errors="coerce")
        bad = lives[~(lives > 0)]
        if len(bad):
            raise DataFormatError(f"cycle_life must be positive numbers, got {bad.iloc[0]!r} for cell "
                                  f"{bad.index[0]!r}", value=bad.iloc[0])
        for i, cell in enumerate(order):
            if cell in lives.index:
                life = float(lives[cell])
                y_all[i, 0] = math.log10(life) if target == "log10_cycle_life" else life
            else:
                dropped[cell] = "no cycle life given"
    for i, cell in enumerate(order):
        if counts[i] < min_cycles:
            dropped[cell] = (f"{int(counts[i])} cycles with data in cycles {start_cycle}..{window} "
                             f"(min_cycles={min_cycles})")
    keep = np.asarray([c not in dropped for c in order], dtype=bool)
    if not keep.any():
        first = next(iter(dropped.items()))
        raise DataFormatError(f"no cell left to build sequences from; e.g. {first[0]!r}: {first[1]}")
    y = y_all[keep] if target == "retention" else y_all[keep, 0]
    return SequenceDataset(
        X=X_all[keep], y=y, cell_ids=tuple(str(c) for c in order[keep]), feature_names=tuple(names),
        cycles=step_cycles, target=target, target_cycles=tcycles, dropped=dropped,
    )
