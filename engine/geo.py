"""The nearest active pickup leader to a point: a uniform grid over the leaders, in numpy.

Community group buying is local: a leader serves the blocks around them, a few hundred
metres to a few kilometres. Points are projected onto a plane around the leaders' mean
latitude (x = longitude * cos(latitude), both in kilometres), which is exact to well
under a percent across a city. The leaders are bucketed into square cells; a point is
compared with the leaders of the 3 x 3 block of cells around its own, which settles it
whenever the nearest of them is within one cell's width (no leader outside the block can
be nearer). The few points further from every leader are compared with all of them.
Points are taken a cell at a time, one numpy step per cell. Ties go to the leader id
that sorts first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

KM_PER_DEGREE = 111.195  # one degree of latitude, on a sphere of the Earth's mean radius


@dataclass(frozen=True)
class Leader:
    id: str
    name: str
    lat: float
    lon: float
    active: bool = True


class LeaderIndex:
    """Active leaders in a grid; `nearest()` for one point, `nearest_many()` for a batch."""

    def __init__(self, leaders: Sequence[Leader], cell_km: float = 2.0):
        active = sorted((one for one in leaders if one.active), key=lambda one: one.id)
        self.ids = [one.id for one in active]
        self.cell_km = cell_km
        lat = np.array([one.lat for one in active], dtype=np.float64)
        lon = np.array([one.lon for one in active], dtype=np.float64)
        self.cos0 = math.cos(math.radians(float(lat.mean()))) if len(active) else 1.0
        x, y = self._project(lat, lon)
        self.x0 = float(x.min()) if len(active) else 0.0
        self.y0 = float(y.min()) if len(active) else 0.0
        cx = ((x - self.x0) // cell_km).astype(np.int64)
        cy = ((y - self.y0) // cell_km).astype(np.int64)
        self.width = int(cx.max()) + 1 if len(active) else 1
        self.height = int(cy.max()) + 1 if len(active) else 1
        cell = cy * self.width + cx
        order = np.argsort(cell, kind="stable")  # leaders of a cell together, in id order
        self.x, self.y, self.rank = x[order], y[order], order  # rank: position in id order
        self.x_by_rank, self.y_by_rank = x, y
        counts = np.bincount(cell, minlength=self.width * self.height)
        self.start = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        # each cell's 3 x 3 block of cells, as positions into x / y / rank: most queries
        # find their leader there and need one numpy step
        blocks = []
        for gy in range(self.height):
            for gx in range(self.width):
                parts = [
                    np.arange(self.start[ny * self.width + nx], self.start[ny * self.width + nx + 1])
                    for ny in range(max(gy - 1, 0), min(gy + 2, self.height))
                    for nx in range(max(gx - 1, 0), min(gx + 2, self.width))
                ]
                blocks.append(np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64))
        self.block_start = np.concatenate(([0], np.cumsum([len(b) for b in blocks]))).astype(np.int64)
        self.block = np.concatenate(blocks).astype(np.int64) if blocks else np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.ids)

    def _project(self, lat, lon):
        return np.asarray(lon) * self.cos0 * KM_PER_DEGREE, np.asarray(lat) * KM_PER_DEGREE

    def nearest(self, lat: float, lon: float) -> tuple | None:
        """(leader id, distance in km) of the nearest active leader, or None without any."""
        return self.nearest_many([lat], [lon])[0]

    def nearest_many(self, lats, lons) -> list:
        """`nearest()` for each point, a cell's points at a time: one numpy step compares
        all the points of a cell with the leaders of its 3 x 3 block; the few points whose
        nearest leader there is further than a cell go through `nearest()`."""
        lats = np.asarray(lats, dtype=np.float64)
        lons = np.asarray(lons, dtype=np.float64)
        if not self.ids or not len(lats):
            return [None] * len(lats)
        qx, qy = self._project(lats, lons)
        cx = np.floor((qx - self.x0) / self.cell_km).astype(np.int64)
        cy = np.floor((qy - self.y0) / self.cell_km).astype(np.int64)
        inside = (cx >= 0) & (cx < self.width) & (cy >= 0) & (cy < self.height)
        cell = np.where(inside, cy * self.width + cx, -1)
        order = np.argsort(cell, kind="stable")
        groups = np.split(order, np.flatnonzero(np.diff(cell[order])) + 1)
        best_rank = np.full(len(lats), -1, dtype=np.int64)
        best_d2 = np.full(len(lats), np.inf)
        for group in groups:
            c = int(cell[group[0]])
            near = self.block[self.block_start[c] : self.block_start[c + 1]] if c >= 0 else ()
            if not len(near):
                continue
            by_rank = np.argsort(self.rank[near], kind="stable")  # argmin's first hit: the id that sorts first
            near = near[by_rank]
            d2 = (self.x[near][None, :] - qx[group][:, None]) ** 2 + (self.y[near][None, :] - qy[group][:, None]) ** 2
            k = np.argmin(d2, axis=1)
            best_d2[group] = d2[np.arange(len(group)), k]
            best_rank[group] = self.rank[near][k]
        rest = np.flatnonzero(~(best_d2 <= self.cell_km**2))
        for lo in range(0, len(rest), 1024):  # far from every leader's block: against them all
            chunk = rest[lo : lo + 1024]
            d2 = (self.x_by_rank[None, :] - qx[chunk][:, None]) ** 2 + (
                self.y_by_rank[None, :] - qy[chunk][:, None]
            ) ** 2
            k = np.argmin(d2, axis=1)
            best_d2[chunk] = d2[np.arange(len(chunk)), k]
            best_rank[chunk] = k
        return [(self.ids[best_rank[i]], math.sqrt(best_d2[i])) for i in range(len(lats))]
