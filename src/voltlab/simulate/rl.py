"""Reinforcement-learning fast charge: a gymnasium environment on a built PyBaMM model, trained with PPO.

:class:`FastChargeEnv` charges a cell window by window: each step applies
one C-rate (the action) over one SOC window (e.g. 10 %), by stepping a
PyBaMM model built once with ``"Current function [A]"`` as an input. The
observation is ``[SOC, V / vmax, (T - T_amb) / (tmax - T_amb), plating
margin]`` (SOC as a fraction, plating margin in V, all float32). The reward of
a window is

``10 * dSOC - dt / 10 min - 100 * max(0, eta_limit - eta_min) - 0.5 * max(0, T_max - tmax)``

(SOC gained, minus the time it took, minus penalties for plating, with the
plating margin ``eta`` in V against its limit ``eta_limit`` (``min_plating_margin_volt``,
0 by default), and for overheating, in °C, as the degradation
proxy); reaching the voltage limit before the window's charge ends the episode
with a further ``5 + 20 * (SOC still missing)`` (also when the solver fails on a
window, typically because the limit is exceeded at once at the new current). The trained policy's rates,
one per window, form a :class:`~voltlab.simulate.fastcharge.ChargeProtocol`,
evaluated by :func:`~voltlab.simulate.fastcharge.evaluate_protocol` like any other.

gymnasium, stable-baselines3 and torch are imported only when used.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from voltlab.errors import DependencyError
from voltlab.simulate.base import MODELS, SimulationSetupError, close_matches
from voltlab.simulate.fastcharge import (
    PLATING_VARIABLE,
    ChargeProtocol,
    ProtocolEvaluation,
    _check_c_bounds,  # one c_bounds rule for every fast-charge search
    evaluate_protocol,
)

__all__ = ["FastChargeEnv", "RLResult", "make_fast_charge_env", "train_rl_protocol"]

_CURRENT = "Current function [A]"


def _gym() -> Any:
    try:
        import gymnasium
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise DependencyError("the RL fast-charge environment needs gymnasium: pip install gymnasium") from exc
    return gymnasium


def make_fast_charge_env(**kwargs: Any) -> Any:
    """Create a :class:`FastChargeEnv` (keywords as its constructor)."""
    return FastChargeEnv(**kwargs)


def _env_class() -> type:
    gym = _gym()
    spaces = gym.spaces

    class _FastChargeEnv(gym.Env):
        metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

        def __init__(
            self,
            *,
            model: str = "SPMe",
            parameters: str = "Chen2020",
            windows: Sequence[float] = (0, 10, 20, 30, 40, 50, 60, 70, 80),
            c_bounds: tuple[float, float] = (0.2, 4.0),
            vmax_volt: float = 4.2,
            tmax_celsius: float = 45.0,
            period_second: float = 20.0,
            thermal: str = "lumped",
            min_plating_margin_volt: float = 0.0,
        ) -> None:
            from voltlab.simulate.simulator import import_pybamm

            super().__init__()
            template = ChargeProtocol(tuple(windows), (1.0,) * (len(tuple(windows)) - 1), vmax_volt)
            self.windows = template.soc_windows_percent
            lo, hi = _check_c_bounds(c_bounds)
            if model not in MODELS:
                raise SimulationSetupError(f"model={model!r} is not one of {', '.join(MODELS)}"
                                           f"{close_matches(model, MODELS)}", value=model)
            self.c_bounds = (lo, hi)
            self.vmax_volt, self.tmax_celsius = float(vmax_volt), float(tmax_celsius)
            self.min_plating_margin_volt = float(min_plating_margin_volt)
            if not math.isfinite(self.min_plating_margin_volt):
                raise SimulationSetupError(f"min_plating_margin_volt must be a finite number, got "
                                           f"{min_plating_margin_volt!r}", value=min_plating_margin_volt)
            self.period_second = float(period_second)
            self.model_name, self.parameters = model, parameters
            pybamm = import_pybamm()
            sets = sorted(pybamm.parameter_sets.keys())
            if parameters not in sets:
                raise SimulationSetupError(
                    f"parameters={parameters!r} is not a PyBaMM parameter set{close_matches(parameters, sets)}",
                    value=parameters)
            self._pybamm = pybamm
            pv = pybamm.ParameterValues(parameters)
            self.nominal_capacity_ah = float(pv["Nominal cell capacity [A.h]"])
            self.ambient_celsius = float(pv["Ambient temperature [K]"]) - 273.15
            pv.update({_CURRENT: "[input]"})
            self._sim = pybamm.Simulation(getattr(pybamm.lithium_ion, model)({"thermal": thermal}),
                                          parameter_values=pv, solver=pybamm.IDAKLUSolver())
            self._sim.set_initial_state(self.windows[0] / 100.0)
            self.action_space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
            self.observation_space = spaces.Box(
                np.array([0.0, 0.0, -5.0, -1.0], dtype=np.float32),
                np.array([1.5, 1.5, 5.0, 1.0], dtype=np.float32), dtype=np.float32)
            self._k = 0
            self._done = False
            self._sol: Any = None
            self._obs = np.zeros(4, dtype=np.float32)
            self.rates: list[float] = []

        def c_rate(self, action: Any) -> float:
            """C-rate of an action in [-1, 1] (clipped), 1/h."""
            a = float(np.clip(np.asarray(action, dtype=float).reshape(-1)[0], -1.0, 1.0))
            lo, hi = self.c_bounds
            return lo + 0.5 * (a + 1.0) * (hi - lo)

        def _observe(self, soc: float, v: float, t: float, eta: float) -> np.ndarray:
            x = np.array([soc, v / self.vmax_volt, (t - self.ambient_celsius) / (self.tmax_celsius
                                                                              - self.ambient_celsius), eta])
            return np.clip(x, self.observation_space.low, self.observation_space.high).astype(np.float32)

        def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
            super().reset(seed=seed)
            self._k = 0
            self._done = False
            self._sol = None
            self._sim._solution = None  # start from the model's initial state, not the last episode
            self.rates = []
            self._obs = self._observe(self.windows[0] / 100.0, 0.0, self.ambient_celsius, 0.0)
            self._obs[1] = 0.0
            return self._obs.copy(), {}

        def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
            if self._k >= len(self.windows) - 1 or self._done:
                raise SimulationSetupError(
                    "FastChargeEnv.step called after the episode ended (target SOC or voltage limit reached); "
                    "call env.reset() first", value=self._k)
            c = self.c_rate(action)
            a, b = self.windows[self._k], self.windows[self._k + 1]
            dt = 3600.0 * (b - a) / 100.0 / c
            n = max(2, math.ceil(dt / self.period_second) + 1)
            current = c * self.nominal_capacity_ah
            try:
                sol = self._sim.step(dt, inputs={_CURRENT: -current}, starting_solution=self._sol, save=False,
                                     t_eval=np.linspace(0.0, dt, n))
            except self._pybamm.SolverError as exc:
                # Typically the voltage limit is exceeded at once at this current ("events non-positive at
                # initial conditions"): no charge passes; end the episode with the voltage-limit penalty.
                self._done = True
                soc = float(self._obs[0])
                reward = -5.0 - 20.0 * max(0.0, self.windows[-1] / 100.0 - soc)
                info = {"c_rate": c, "soc": soc, "time_min": 0.0, "min_plating_margin_volt": float(self._obs[3]),
                        "max_temperature_celsius": math.nan, "max_voltage_volt": math.nan,
                        "voltage_limited": True, "solver_error": str(exc)}
                self.rates.append(c)
                return self._obs.copy(), float(reward), True, False, info
            self._sol = sol
            self.rates.append(c)
            t_s = np.asarray(sol["Time [s]"].entries, dtype=float)
            q = -np.asarray(sol["Discharge capacity [A.h]"].entries, dtype=float)
            v = np.asarray(sol["Voltage [V]"].entries, dtype=float)
            temp = np.asarray(sol["Volume-averaged cell temperature [C]"].entries, dtype=float)
            eta = np.asarray(sol[PLATING_VARIABLE].entries, dtype=float)
            soc = self.windows[0] / 100.0 + q[-1] / self.nominal_capacity_ah
            d_soc = (q[-1] - q[0]) / self.nominal_capacity_ah
            elapsed_min = (t_s[-1] - t_s[0]) / 60.0
            eta_min, t_max, v_max = float(eta.min()), float(temp.max()), float(v.max())
            plating = max(0.0, self.min_plating_margin_volt - eta_min)
            hot = max(0.0, t_max - self.tmax_celsius)
            reward = 10.0 * d_soc - elapsed_min / 10.0 - 100.0 * plating - 0.5 * hot
            limited = "Maximum voltage" in str(sol.termination) or v_max > self.vmax_volt + 1e-3
            self._k += 1
            done = self._k >= len(self.windows) - 1
            terminated = done or limited
            self._done = terminated
            if limited and not done:
                reward -= 5.0 + 20.0 * max(0.0, self.windows[-1] / 100.0 - soc)
            self._obs = self._observe(soc, float(v[-1]), float(temp[-1]), float(eta[-1]))
            info = {"c_rate": c, "soc": soc, "time_min": elapsed_min, "min_plating_margin_volt": eta_min,
                    "max_temperature_celsius": t_max, "max_voltage_volt": v_max, "voltage_limited": limited}
            return self._obs.copy(), float(reward), bool(terminated), False, info

    _FastChargeEnv.__name__ = _FastChargeEnv.__qualname__ = "FastChargeEnv"
    _FastChargeEnv.__doc__ = FastChargeEnv.__doc__
    return _FastChargeEnv


_ENV_CLASS: type | None = None


class FastChargeEnv:
    """Gymnasium environment: charge window by window, one C-rate per SOC window (action in [-1, 1]).

    Calling ``FastChargeEnv(...)`` returns an instance of a ``gymnasium.Env``
    subclass (built at first use, so that importing voltlab does not import
    gymnasium).

    Parameters
    ----------
    model, parameters
        PyBaMM model and parameter set (``"SPMe"``, ``"Chen2020"``).
    windows
        SOC window boundaries, %; one decision per window.
    c_bounds
        C-rate range the action ``[-1, 1]`` maps onto linearly, 1/h.
    vmax_volt, tmax_celsius
        Voltage (V) and temperature (°C) limits.
    period_second
        Output interval inside a window, s (the resolution of the extremes).
    thermal
        PyBaMM thermal option.
    min_plating_margin_volt
        Lowest plating margin allowed, V (0: the onset of plating); the plating penalty is
        ``100 * max(0, min_plating_margin_volt - eta_min)``.

    Raises
    ------
    SimulationSetupError
        Bad windows, bounds, model or parameter set.
    """

    def __new__(cls, **kwargs: Any) -> Any:
        global _ENV_CLASS
        if _ENV_CLASS is None:
            _ENV_CLASS = _env_class()
        return _ENV_CLASS(**kwargs)


@dataclass
class RLResult:
    """The trained policy and its protocol, evaluated like the others.

    Attributes
    ----------
    protocol
        The policy's deterministic rates, one per window.
    evaluation
        :func:`~voltlab.simulate.fastcharge.evaluate_protocol` of ``protocol``.
    policy
        The trained stable-baselines3 PPO model.
    timesteps
        Environment steps trained.
    train_second
        Wall time of the training, s.
    episode_return
        Return of the deterministic rollout in the environment.
    """

    protocol: ChargeProtocol
    evaluation: ProtocolEvaluation
    policy: Any
    timesteps: int
    train_second: float
    episode_return: float


def train_rl_protocol(
    *,
    model: str = "SPMe",
    parameters: str = "Chen2020",
    windows: Sequence[float] = (0, 10, 20, 30, 40, 50, 60, 70, 80),
    c_bounds: tuple[float, float] = (0.2, 4.0),
    vmax_volt: float = 4.2,
    tmax_celsius: float = 45.0,
    timesteps: int = 3000,
    max_train_second: float = 170.0,
    seed: int = 0,
    period_second: float = 20.0,
    min_plating_margin_volt: float = 0.0,
) -> RLResult:
    """Train PPO on :class:`FastChargeEnv` (one thread, seeded) and evaluate the policy's protocol.

    Parameters
    ----------
    model, parameters, windows, c_bounds, vmax_volt, tmax_celsius, period_second, min_plating_margin_volt
        As :class:`FastChargeEnv`.
    timesteps
        PPO environment steps (each is one window solve), >= 1.
    max_train_second
        Training stops after this wall time, s, even before ``timesteps``.
    seed
        Seeds PPO, torch and the environment.

    Returns
    -------
    RLResult

    Raises
    ------
    SimulationSetupError
        Bad ``timesteps`` or environment arguments.
    DependencyError
        stable-baselines3 or torch is missing.
    """
    if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 1:
        raise SimulationSetupError(f"timesteps must be an integer >= 1, got {timesteps!r}", value=timesteps)
    try:
        import torch
        from stable_baselines3 import PPO
        from stable_baselines3.common.callbacks import BaseCallback
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise DependencyError("train_rl_protocol needs stable-baselines3 and torch: pip install "
                              "stable-baselines3") from exc
    torch.set_num_threads(1)
    env = FastChargeEnv(model=model, parameters=parameters, windows=windows, c_bounds=c_bounds,
                        vmax_volt=vmax_volt, tmax_celsius=tmax_celsius, period_second=period_second,
                        min_plating_margin_volt=min_plating_margin_volt)

    class _WallClock(BaseCallback):
        def __init__(self, limit: float) -> None:
            super().__init__()
            self.limit, self.start = limit, time.perf_counter()

        def _on_step(self) -> bool:
            return time.perf_counter() - self.start < self.limit

    n_windows = len(env.windows) - 1
    n_steps = max(2, min(max(8 * n_windows, 64), timesteps))  # a tiny budget still makes one PPO update
    agent = PPO("MlpPolicy", env, n_steps=n_steps, batch_size=min(64, n_steps), n_epochs=8, learning_rate=3e-3,
                gamma=1.0, gae_lambda=0.95, ent_coef=0.0, seed=seed, device="cpu", verbose=0,
                policy_kwargs={"net_arch": [32, 32], "log_std_init": -0.7})
    t0 = time.perf_counter()
    agent.learn(total_timesteps=timesteps, callback=_WallClock(float(max_train_second)))
    train_second = time.perf_counter() - t0
    obs, _ = env.reset(seed=seed)
    rates: list[float] = []
    ret = 0.0
    for _ in range(n_windows):
        action, _ = agent.predict(obs, deterministic=True)
        rates.append(env.c_rate(action))
        obs, r, term, trunc, _ = env.step(action)
        ret += r
        if term or trunc:
            break
    rates += [c_bounds[0]] * (n_windows - len(rates))  # windows after a voltage stop: the lowest rate
    protocol = ChargeProtocol(tuple(env.windows), tuple(rates), vmax_volt)
    evaluation = evaluate_protocol(protocol, model=model, parameters=parameters, tmax_celsius=tmax_celsius,
                                   period_second=period_second, min_plating_margin_volt=min_plating_margin_volt)
    return RLResult(protocol=protocol, evaluation=evaluation, policy=agent, timesteps=int(agent.num_timesteps),
                    train_second=train_second, episode_return=ret)
