"""Material to cell: estimate the electrode-stack energy density of a cathode material.

:func:`cell_energy_density` maps two material-level numbers, a cathode's
specific capacity (mAh/g of active material) and its average discharge
voltage (V), onto the electrode stack of a PyBaMM parameter set. The anode,
separator, current collectors and the cathode's porosity and active-material
volume fraction are kept as the set has them. Only the cathode coating
thickness changes, so that the cathode's areal capacity keeps the set's N/P
ratio (or the one given). Every geometric value and density is read from
``pybamm.ParameterValues(parameters)`` and listed, with its PyBaMM name, in
:attr:`CellEstimate.parameters_read`. The result is for the electrode stack
only: can, pouch, tabs and header are excluded. The mapping is documented,
with its formulas, in ``docs/simulate.md`` ("Material to cell").

Examples
--------
>>> from voltlab.simulate.material import cell_energy_density
>>> est = cell_energy_density(200.0, 3.7, parameters="OKane2022")
>>> round(est.gravimetric_energy_density_wh_kg)
345
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

from voltlab.simulate.base import SimulationSetupError, close_matches

__all__ = ["CellEstimate", "cell_energy_density", "practical_cathode_capacity"]

FARADAY_C_MOL = 96485.33212
"""Faraday constant (C/mol)."""

DEFAULT_ELECTROLYTE_DENSITY_KG_M3 = 1200.0
"""Density of the liquid electrolyte that fills the pores (kg/m³): about 1 M LiPF6 in EC/EMC.
PyBaMM parameter sets do not give one."""

MIN_VOLTAGE_V = 1.0
MAX_VOLTAGE_V = 5.5

# PyBaMM names of every value the stack model reads.
_NEG_CC_L = "Negative current collector thickness [m]"
_NEG_CC_RHO = "Negative current collector density [kg.m-3]"
_NEG_L = "Negative electrode thickness [m]"
_NEG_EPS = "Negative electrode porosity"
_NEG_VF = "Negative electrode active material volume fraction"
_NEG_RHO = "Negative electrode density [kg.m-3]"
_NEG_CMAX = "Maximum concentration in negative electrode [mol.m-3]"
_SEP_L = "Separator thickness [m]"
_SEP_EPS = "Separator porosity"
_SEP_RHO = "Separator density [kg.m-3]"
_POS_L = "Positive electrode thickness [m]"
_POS_EPS = "Positive electrode porosity"
_POS_VF = "Positive electrode active material volume fraction"
_POS_RHO = "Positive electrode density [kg.m-3]"
_POS_CMAX = "Maximum concentration in positive electrode [mol.m-3]"
_POS_CC_L = "Positive current collector thickness [m]"
_POS_CC_RHO = "Positive current collector density [kg.m-3]"
_HEIGHT = "Electrode height [m]"
_WIDTH = "Electrode width [m]"
_N_PARALLEL = "Number of electrodes connected in parallel to make a cell"
_NOMINAL = "Nominal cell capacity [A.h]"

READ_PARAMETERS: tuple[str, ...] = (
    _NEG_CC_L, _NEG_CC_RHO, _NEG_L, _NEG_EPS, _NEG_VF, _NEG_RHO, _NEG_CMAX,
    _SEP_L, _SEP_EPS, _SEP_RHO,
    _POS_L, _POS_EPS, _POS_VF, _POS_RHO, _POS_CMAX, _POS_CC_L, _POS_CC_RHO,
    _HEIGHT, _WIDTH, _N_PARALLEL, _NOMINAL,
)
"""PyBaMM parameters read by :func:`cell_energy_density` (all must be numbers in the set or in ``overrides``)."""

_OPTIONAL_DEFAULTS: dict[str, float] = {_N_PARALLEL: 1.0}

# Unit conversions.
_AH_M2_TO_MAH_CM2 = 0.1  # 1 Ah/m² = 1000 mAh / 10⁴ cm²
_KG_M2_TO_MG_CM2 = 100.0  # 1 kg/m² = 10⁶ mg / 10⁴ cm²
_C_KG_TO_MAH_G = 1.0 / 3600.0  # 1 mAh/g = 3.6 C/g = 3600 C/kg


@dataclass(frozen=True)
class CellEstimate:
    """Electrode-stack estimate of a cathode material in a PyBaMM parameter set's cell design.

    Masses and capacities are per area of the electrode stack (one repeating unit:
    negative current collector, anode coating, separator, cathode coating, positive
    current collector). Packaging (can, pouch, tabs, header) is excluded.

    Attributes
    ----------
    parameters
        PyBaMM parameter set name.
    specific_capacity_mah_g
        Cathode reversible specific capacity used (mAh per g of active material).
    average_voltage_volt
        Average cell discharge voltage used (V).
    n_p_ratio
        Anode/cathode areal capacity ratio kept (the set's, or the one given).
    double_sided
        Whether each current collector was counted half (double-coated electrodes).
    reference_specific_capacity_mah_g
        The set's own cathode reversible specific capacity (mAh/g), from
        :func:`practical_cathode_capacity`.
    cathode_areal_capacity_mah_cm2
        Cathode reversible areal capacity (mAh/cm²) = specific capacity × active mass per area.
    cell_areal_capacity_mah_cm2
        Cell capacity per stack area (mAh/cm²); the cathode limits (N/P >= 1).
    areal_energy_mwh_cm2
        Cell energy per stack area (mWh/cm²) = cell areal capacity × average voltage.
    electrode_area_m2
        The set's electrode area (m²) = height × width × electrodes in parallel.
    cell_capacity_ah, cell_energy_wh
        Capacity (Ah) and energy (Wh) of a cell with the set's electrode area.
    nominal_cell_capacity_ah
        The set's ``Nominal cell capacity [A.h]``, for comparison.
    gravimetric_energy_density_wh_kg
        Stack energy per stack mass (Wh/kg), packaging excluded.
    volumetric_energy_density_wh_l
        Stack energy per stack volume (Wh/L), packaging excluded.
    cathode_thickness_um
        Cathode coating thickness after scaling (µm).
    stack_thickness_um
        Thickness of the repeating unit (µm).
    cathode_active_mass_mg_cm2
        Cathode active material per area (mg/cm²).
    negative_current_collector_mass_mg_cm2, negative_electrode_mass_mg_cm2, separator_mass_mg_cm2, \
positive_electrode_mass_mg_cm2, positive_current_collector_mass_mg_cm2, electrolyte_mass_mg_cm2
        Mass per stack area of each component (mg/cm²); the electrode masses are the dry
        coatings, the electrolyte fills the pores of both coatings and the separator.
    stack_mass_mg_cm2
        Sum of the component masses (mg/cm²).
    cathode_active_density_kg_m3
        Density of the cathode active material used (kg/m³).
    electrolyte_density_kg_m3
        Electrolyte density used (kg/m³).
    parameters_read
        Every PyBaMM parameter read, by its PyBaMM name, with the value used.
    """

    parameters: str
    specific_capacity_mah_g: float
    average_voltage_volt: float
    n_p_ratio: float
    double_sided: bool
    reference_specific_capacity_mah_g: float
    cathode_areal_capacity_mah_cm2: float
    cell_areal_capacity_mah_cm2: float
    areal_energy_mwh_cm2: float
    electrode_area_m2: float
    cell_capacity_ah: float
    cell_energy_wh: float
    nominal_cell_capacity_ah: float
    gravimetric_energy_density_wh_kg: float
    volumetric_energy_density_wh_l: float
    cathode_thickness_um: float
    stack_thickness_um: float
    cathode_active_mass_mg_cm2: float
    negative_current_collector_mass_mg_cm2: float
    negative_electrode_mass_mg_cm2: float
    separator_mass_mg_cm2: float
    positive_electrode_mass_mg_cm2: float
    positive_current_collector_mass_mg_cm2: float
    electrolyte_mass_mg_cm2: float
    stack_mass_mg_cm2: float
    cathode_active_density_kg_m3: float
    electrolyte_density_kg_m3: float
    parameters_read: dict[str, float] = field(default_factory=dict)

    @property
    def masses_mg_cm2(self) -> dict[str, float]:
        """Mass per stack area of each component (mg/cm²), in stack order."""
        return {
            "negative_current_collector": self.negative_current_collector_mass_mg_cm2,
            "negative_electrode": self.negative_electrode_mass_mg_cm2,
            "separator": self.separator_mass_mg_cm2,
            "positive_electrode": self.positive_electrode_mass_mg_cm2,
            "positive_current_collector": self.positive_current_collector_mass_mg_cm2,
            "electrolyte": self.electrolyte_mass_mg_cm2,
        }

    def to_dict(self) -> dict[str, Any]:
        """All fields as plain values (JSON-ready)."""
        return asdict(self)


@dataclass(frozen=True)
class _Design:
    """The set's stack, in SI units, and its own cathode (cached per set and overrides)."""

    values: dict[str, float]
    y_window: float  # positive stoichiometry window y_0 - y_100 of the set's cell (eSOH)


def _check_number(name: str, value: Any, *, fix: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(float(value)):
        raise SimulationSetupError(f"{name} must be a finite number, got {value!r}; {fix}", value=value)
    return float(value)


def _import_pybamm() -> Any:
    from voltlab.simulate.simulator import import_pybamm

    return import_pybamm()


@lru_cache(maxsize=32)
def _design(parameters: str, overrides: tuple[tuple[str, float], ...]) -> _Design:
    pybamm = _import_pybamm()
    sets = sorted(pybamm.parameter_sets.keys())
    if parameters not in sets:
        raise SimulationSetupError(
            f"parameters: unknown PyBaMM parameter set {parameters!r}{close_matches(parameters, sets)}; "
            f"available: {', '.join(sets)}",
            value=parameters,
        )
    pv = pybamm.ParameterValues(parameters)
    if overrides:
        pv.update(dict(overrides), check_already_exists=False)
    missing = [name for name in READ_PARAMETERS if name not in pv and name not in _OPTIONAL_DEFAULTS]
    if missing:
        raise SimulationSetupError(
            f"parameter set {parameters!r} has no {', '.join(repr(m) for m in missing)}, which the stack "
            f"mass/volume model needs; give {'it' if len(missing) == 1 else 'them'} with "
            f"overrides={{{missing[0]!r}: value, ...}} (SI units)",
            value=missing,
        )
    values: dict[str, float] = {}
    for name in READ_PARAMETERS:
        raw = pv[name] if name in pv else _OPTIONAL_DEFAULTS[name]
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(float(raw)):
            raise SimulationSetupError(
                f"parameter {name!r} of set {parameters!r} is {type(raw).__name__}, not a number; "
                f"give a number with overrides={{{name!r}: value}}",
                value=name,
            )
        if float(raw) <= 0 and name not in (_NEG_EPS, _SEP_EPS, _POS_EPS):
            raise SimulationSetupError(
                f"parameter {name!r} of set {parameters!r} is {raw}, but must be positive; "
                f"give a positive value with overrides={{{name!r}: value}}",
                value=name,
            )
        values[name] = float(raw)
    for eps, vf in ((_NEG_EPS, _NEG_VF), (_POS_EPS, _POS_VF)):
        if not 0 <= values[eps] < 1 or values[eps] + values[vf] > 1 + 1e-9:
            raise SimulationSetupError(
                f"parameter set {parameters!r}: {eps} = {values[eps]} and {vf} = {values[vf]} must satisfy "
                "0 <= porosity < 1 and porosity + volume fraction <= 1; fix them with overrides",
                value=(eps, vf),
            )
    try:
        x_0, x_100, y_100, y_0 = (float(v) for v in pybamm.lithium_ion.get_min_max_stoichiometries(pv))
    except Exception as exc:  # PyBaMM raises several types from its eSOH solve
        raise SimulationSetupError(
            f"PyBaMM's electrode state-of-health solve failed for parameter set {parameters!r} ({exc}); "
            "the set's cathode window (and so its N/P ratio) is unknown. Check the voltage cut-offs and "
            "initial concentrations, or pass n_p_ratio and fix the set with overrides",
            value=parameters,
        ) from exc
    window = y_0 - y_100
    if not 0 < window <= 1:
        raise SimulationSetupError(
            f"parameter set {parameters!r}: the positive stoichiometry window y_0 - y_100 = {window:g} "
            "from PyBaMM's eSOH solve is not in (0, 1]",
            value=parameters,
        )
    values["eSOH positive stoichiometry at 0 % SOC (y_0)"] = y_0
    values["eSOH positive stoichiometry at 100 % SOC (y_100)"] = y_100
    values["eSOH negative stoichiometry at 0 % SOC (x_0)"] = x_0
    values["eSOH negative stoichiometry at 100 % SOC (x_100)"] = x_100
    return _Design(values=values, y_window=window)


def _overrides_key(parameters: Any, overrides: Mapping[str, float] | None) -> tuple[tuple[str, float], ...]:
    if not isinstance(parameters, str):
        raise SimulationSetupError(
            f"parameters must be a PyBaMM parameter set name (str), got {type(parameters).__name__}; "
            "e.g. parameters='OKane2022'",
            value=parameters,
        )
    items: list[tuple[str, float]] = []
    for name, value in (overrides or {}).items():
        if name not in READ_PARAMETERS:
            raise SimulationSetupError(
                f"overrides: {name!r} is not a parameter the stack model reads{close_matches(name, READ_PARAMETERS)}; "
                f"it reads: {', '.join(READ_PARAMETERS)}",
                value=name,
            )
        items.append((name, _check_number(f"overrides[{name!r}]", value, fix="give a number in SI units")))
    return tuple(sorted(items))


def _active_density(v: Mapping[str, float], rho: str, eps: str) -> float:
    """Active-material (solid-phase) density (kg/m³) = electrode density / (1 - porosity)."""
    return v[rho] / (1.0 - v[eps])


def practical_cathode_capacity(parameters: str = "OKane2022", *, overrides: Mapping[str, float] | None = None
                               ) -> float:
    """Reversible specific capacity of a parameter set's own cathode (mAh per g of active material).

    ``c_max,p × (y_0 - y_100) × F / ρ_AM,p``: the maximum lithium concentration
    ``Maximum concentration in positive electrode [mol.m-3]``, the stoichiometry
    window between the set's voltage cut-offs from PyBaMM's electrode state-of-health
    solve (``pybamm.lithium_ion.get_min_max_stoichiometries``), Faraday's constant and the
    active-material density ``ρ_AM,p = Positive electrode density / (1 - Positive electrode
    porosity)``.

    Parameters
    ----------
    parameters
        PyBaMM parameter set name.
    overrides
        Values (SI units, PyBaMM names) that replace or supply parameters the model reads
        (:data:`READ_PARAMETERS`).

    Returns
    -------
    float
        Specific capacity (mAh/g); about 204 mAh/g for Chen2020 and OKane2022 (NMC811).

    Raises
    ------
    SimulationSetupError
        Unknown parameter set (the message lists close names) or a missing, non-numeric
        parameter (the message names it).
    """
    design = _design(parameters, _overrides_key(parameters, overrides))
    v = design.values
    rho_am = _active_density(v, _POS_RHO, _POS_EPS)
    return v[_POS_CMAX] * design.y_window * FARADAY_C_MOL / rho_am * _C_KG_TO_MAH_G


def cell_energy_density(
    specific_capacity_mah_g: float,
    average_voltage_volt: float,
    *,
    parameters: str = "OKane2022",
    n_p_ratio: float | None = None,
    cathode_active_density_kg_m3: float | None = None,
    electrolyte_density_kg_m3: float = DEFAULT_ELECTROLYTE_DENSITY_KG_M3,
    double_sided: bool = True,
    overrides: Mapping[str, float] | None = None,
) -> CellEstimate:
    """Electrode-stack energy density of a cathode material in a PyBaMM parameter set's cell design.

    The anode coating, separator, current collectors and the cathode's porosity and
    active-material volume fraction are the set's. The cathode coating thickness ``L_p``
    is scaled so that the cathode areal capacity ``Q_p = q × ρ_AM,p × ε_AM,p × L_p`` equals
    ``Q_n / (N/P)``, with ``Q_n = c_max,n × ε_AM,n × L_n × F`` the anode's capacity at full
    lithiation and N/P the set's own (``Q_n`` over the set's cathode capacity) unless given.
    The cell capacity per area is ``Q_p`` (the cathode limits), its energy ``Q_p × V``.
    Masses per area: each coating ``ρ × L`` (PyBaMM's electrode density, the dry coating),
    separator ``ρ_s × L_s``, current collectors ``ρ × L`` (halved when ``double_sided``),
    electrolyte ``ρ_e × (ε_n L_n + ε_s L_s + ε_p L_p)``. Packaging is excluded. See
    ``docs/simulate.md``, "Material to cell", for the formulas and every parameter read.

    Parameters
    ----------
    specific_capacity_mah_g
        Cathode reversible specific capacity (mAh per g of active material), > 0.
    average_voltage_volt
        Average cell discharge voltage (V), in [1, 5.5].
    parameters
        PyBaMM parameter set whose cell design is used (``"OKane2022"``, ``"Chen2020"``, ...).
    n_p_ratio
        Anode/cathode areal capacity ratio to keep, >= 1. Default: the set's own.
    cathode_active_density_kg_m3
        Density of the new cathode active material (kg/m³). Default: the set's,
        ``Positive electrode density / (1 - Positive electrode porosity)``.
    electrolyte_density_kg_m3
        Density of the electrolyte filling the pores (kg/m³), >= 0; 0 leaves it out.
        PyBaMM sets do not give one; the default is 1200 kg/m³.
    double_sided
        Electrodes coated on both sides of their current collector (wound and stacked
        cells): each current collector is shared by two repeating units, so half its
        thickness and mass is counted. ``False`` counts both collectors fully (a single
        unit cell, as in PyBaMM's 1D model).
    overrides
        Values (SI units, PyBaMM names) that replace or supply parameters the model reads
        (:data:`READ_PARAMETERS`), e.g. a density the set lacks.

    Returns
    -------
    CellEstimate
        Areal capacity, masses per area, stack Wh/kg and Wh/L, and the parameters read.

    Raises
    ------
    SimulationSetupError
        A non-positive capacity, a voltage outside 1-5.5 V, N/P below 1, an unknown
        parameter set (the message lists close names), or a parameter the set lacks (the
        message names it and how to give it). A ``ValueError`` and a ``VoltlabError``.

    Examples
    --------
    >>> est = cell_energy_density(200.0, 3.7, parameters="OKane2022")
    >>> round(est.cathode_areal_capacity_mah_cm2, 2), round(est.volumetric_energy_density_wh_l)
    (4.98, 982)
    """
    q = _check_number("specific_capacity_mah_g", specific_capacity_mah_g,
                      fix="give the cathode's reversible specific capacity in mAh/g, e.g. 200")
    if q <= 0:
        raise SimulationSetupError(
            f"specific_capacity_mah_g must be positive, got {q:g}; give the cathode's reversible specific "
            "capacity in mAh per g of active material, e.g. 200",
            value=specific_capacity_mah_g,
        )
    volt = _check_number("average_voltage_volt", average_voltage_volt,
                         fix="give the average discharge voltage in V, e.g. 3.7")
    if not MIN_VOLTAGE_V <= volt <= MAX_VOLTAGE_V:
        hint = " (it looks like millivolts)" if MAX_VOLTAGE_V * 100 < volt < MAX_VOLTAGE_V * 1000 else ""
        raise SimulationSetupError(
            f"average_voltage_volt = {volt:g} V is outside {MIN_VOLTAGE_V:g}-{MAX_VOLTAGE_V:g} V{hint}; give the "
            "average cell discharge voltage in volts, e.g. 3.7",
            value=average_voltage_volt,
        )
    if n_p_ratio is not None:
        n_p_ratio = _check_number("n_p_ratio", n_p_ratio, fix="give the anode/cathode capacity ratio, e.g. 1.1")
        if n_p_ratio < 1.0:
            raise SimulationSetupError(
                f"n_p_ratio = {n_p_ratio:g} is below 1: the anode would limit the cell and plate lithium; give "
                "n_p_ratio >= 1 (typically 1.05-1.2) or None for the parameter set's own",
                value=n_p_ratio,
            )
    rho_e = _check_number("electrolyte_density_kg_m3", electrolyte_density_kg_m3,
                          fix="give it in kg/m³, e.g. 1200, or 0 to leave the electrolyte out")
    if rho_e < 0:
        raise SimulationSetupError(
            f"electrolyte_density_kg_m3 must be >= 0, got {rho_e:g}; give it in kg/m³ (e.g. 1200), or 0 to leave "
            "the electrolyte out", value=electrolyte_density_kg_m3)
    if cathode_active_density_kg_m3 is not None:
        cathode_active_density_kg_m3 = _check_number(
            "cathode_active_density_kg_m3", cathode_active_density_kg_m3,
            fix="give the crystal density in kg/m³ (e.g. 4800 for NMC811) or None for the set's")
        if cathode_active_density_kg_m3 <= 0:
            raise SimulationSetupError(
                f"cathode_active_density_kg_m3 must be positive, got {cathode_active_density_kg_m3:g}; give it in "
                "kg/m³ (e.g. 4800 for NMC811) or None for the set's", value=cathode_active_density_kg_m3)

    design = _design(parameters, _overrides_key(parameters, overrides))
    v = design.values
    F = FARADAY_C_MOL
    # Anode (fixed) and the set's own cathode, per area (C/m²).
    q_neg = v[_NEG_CMAX] * v[_NEG_VF] * v[_NEG_L] * F
    q_pos_set = v[_POS_CMAX] * design.y_window * v[_POS_VF] * v[_POS_L] * F
    rho_am_set = _active_density(v, _POS_RHO, _POS_EPS)
    q_ref = v[_POS_CMAX] * design.y_window * F / rho_am_set * _C_KG_TO_MAH_G
    np_ratio = q_neg / q_pos_set if n_p_ratio is None else n_p_ratio
    # New cathode: areal capacity from N/P, active mass and thickness from it.
    q_pos = q_neg / np_ratio  # C/m²
    rho_am = rho_am_set if cathode_active_density_kg_m3 is None else cathode_active_density_kg_m3
    m_am = q_pos / (q / _C_KG_TO_MAH_G)  # kg/m² (q in C/kg)
    l_pos = m_am / (rho_am * v[_POS_VF])  # m
    # Masses per area (kg/m²). The cathode's solid phase (active + binder + carbon) has density rho_am.
    cc = 0.5 if double_sided else 1.0
    m_ncc = cc * v[_NEG_CC_RHO] * v[_NEG_CC_L]
    m_neg = v[_NEG_RHO] * v[_NEG_L]
    m_sep = v[_SEP_RHO] * v[_SEP_L]
    m_pos = rho_am * (1.0 - v[_POS_EPS]) * l_pos
    m_pcc = cc * v[_POS_CC_RHO] * v[_POS_CC_L]
    m_el = rho_e * (v[_NEG_EPS] * v[_NEG_L] + v[_SEP_EPS] * v[_SEP_L] + v[_POS_EPS] * l_pos)
    m_total = m_ncc + m_neg + m_sep + m_pos + m_pcc + m_el
    thickness = cc * v[_NEG_CC_L] + v[_NEG_L] + v[_SEP_L] + l_pos + cc * v[_POS_CC_L]  # m
    cap_ah_m2 = q_pos / 3600.0
    energy_wh_m2 = cap_ah_m2 * volt
    area = v[_HEIGHT] * v[_WIDTH] * v[_N_PARALLEL]
    return CellEstimate(
        parameters=parameters,
        specific_capacity_mah_g=q,
        average_voltage_volt=volt,
        n_p_ratio=float(np_ratio),
        double_sided=bool(double_sided),
        reference_specific_capacity_mah_g=float(q_ref),
        cathode_areal_capacity_mah_cm2=cap_ah_m2 * _AH_M2_TO_MAH_CM2,
        cell_areal_capacity_mah_cm2=cap_ah_m2 * _AH_M2_TO_MAH_CM2,
        areal_energy_mwh_cm2=energy_wh_m2 * 0.1,
        electrode_area_m2=area,
        cell_capacity_ah=cap_ah_m2 * area,
        cell_energy_wh=energy_wh_m2 * area,
        nominal_cell_capacity_ah=v[_NOMINAL],
        gravimetric_energy_density_wh_kg=energy_wh_m2 / m_total,
        volumetric_energy_density_wh_l=energy_wh_m2 / thickness / 1000.0,
        cathode_thickness_um=l_pos * 1e6,
        stack_thickness_um=thickness * 1e6,
        cathode_active_mass_mg_cm2=m_am * _KG_M2_TO_MG_CM2,
        negative_current_collector_mass_mg_cm2=m_ncc * _KG_M2_TO_MG_CM2,
        negative_electrode_mass_mg_cm2=m_neg * _KG_M2_TO_MG_CM2,
        separator_mass_mg_cm2=m_sep * _KG_M2_TO_MG_CM2,
        positive_electrode_mass_mg_cm2=m_pos * _KG_M2_TO_MG_CM2,
        positive_current_collector_mass_mg_cm2=m_pcc * _KG_M2_TO_MG_CM2,
        electrolyte_mass_mg_cm2=m_el * _KG_M2_TO_MG_CM2,
        stack_mass_mg_cm2=m_total * _KG_M2_TO_MG_CM2,
        cathode_active_density_kg_m3=float(rho_am),
        electrolyte_density_kg_m3=rho_e,
        parameters_read=dict(v),
    )
