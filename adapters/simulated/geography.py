"""Iran's 31 provinces, as far as the synthetic population needs them.

Population weights follow the 2016 census (millions); the urban share, the income and
housing-price factors and the climate are rounded public figures, close enough to make the
population's geography plausible, not to be quoted.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Climate(enum.Enum):
    """What drives a province's energy use: air-conditioning or heating."""

    HOT = "hot"
    MILD = "mild"
    COLD = "cold"


@dataclass(frozen=True)
class Province:
    """One province and the factors that shape its households."""

    name: str
    population: float
    urban_share: float
    income_factor: float
    housing_factor: float
    climate: Climate
    gas_coverage: float
    """Share of dwellings connected to the gas grid."""


_H, _M, _C = Climate.HOT, Climate.MILD, Climate.COLD

PROVINCES: tuple[Province, ...] = (
    Province("Tehran", 13.27, 0.94, 1.35, 3.0, _M, 0.98),
    Province("Razavi Khorasan", 6.43, 0.73, 0.90, 1.1, _M, 0.95),
    Province("Isfahan", 5.12, 0.88, 1.10, 1.4, _M, 0.97),
    Province("Fars", 4.85, 0.68, 1.00, 1.2, _M, 0.93),
    Province("Khuzestan", 4.71, 0.75, 0.90, 0.9, _H, 0.90),
    Province("East Azerbaijan", 3.91, 0.72, 0.95, 1.1, _C, 0.97),
    Province("Mazandaran", 3.28, 0.57, 1.00, 1.1, _M, 0.95),
    Province("West Azerbaijan", 3.27, 0.65, 0.85, 0.8, _C, 0.94),
    Province("Kerman", 3.16, 0.59, 0.85, 0.8, _H, 0.85),
    Province("Sistan and Baluchestan", 2.78, 0.48, 0.65, 0.6, _H, 0.25),
    Province("Alborz", 2.71, 0.93, 1.10, 1.6, _M, 0.98),
    Province("Gilan", 2.53, 0.63, 0.95, 1.0, _M, 0.96),
    Province("Kermanshah", 1.95, 0.75, 0.80, 0.8, _C, 0.94),
    Province("Golestan", 1.87, 0.53, 0.85, 0.8, _M, 0.94),
    Province("Hormozgan", 1.78, 0.55, 0.85, 0.9, _H, 0.55),
    Province("Lorestan", 1.76, 0.64, 0.80, 0.7, _C, 0.92),
    Province("Hamadan", 1.74, 0.63, 0.85, 0.8, _C, 0.96),
    Province("Kurdistan", 1.60, 0.71, 0.80, 0.8, _C, 0.94),
    Province("Markazi", 1.43, 0.77, 1.00, 0.9, _C, 0.97),
    Province("Qom", 1.29, 0.95, 0.95, 1.2, _M, 0.98),
    Province("Qazvin", 1.27, 0.74, 1.00, 1.0, _C, 0.97),
    Province("Ardabil", 1.27, 0.68, 0.85, 0.8, _C, 0.95),
    Province("Bushehr", 1.16, 0.72, 1.05, 1.0, _H, 0.75),
    Province("Yazd", 1.14, 0.85, 1.05, 1.0, _H, 0.97),
    Province("Zanjan", 1.06, 0.67, 0.90, 0.8, _C, 0.96),
    Province("Chaharmahal and Bakhtiari", 0.95, 0.64, 0.85, 0.7, _C, 0.93),
    Province("South Khorasan", 0.77, 0.59, 0.80, 0.6, _H, 0.85),
    Province("North Khorasan", 0.86, 0.56, 0.80, 0.6, _C, 0.93),
    Province("Kohgiluyeh and Boyer-Ahmad", 0.71, 0.56, 0.80, 0.7, _M, 0.88),
    Province("Semnan", 0.70, 0.80, 1.05, 0.9, _M, 0.97),
    Province("Ilam", 0.58, 0.68, 0.85, 0.6, _H, 0.92),
)
"""Every province, most populous first."""
