"""The nearest active pickup leader to a point: a uniform grid over the leaders, in numpy.

Community group buying is local: a leader serves the blocks around them, a few hundred
metres to a few kilometres. Points are projected onto a plane around the leaders' mean
latitude (x = longitude * cos(latitude), both in kilometres), which is exact to well
under a percent across a city. The leaders are bucketed into square cells; a query looks
at the cells in growing square rings around its own and stops as soon as no cell not yet
seen can hold a nearer leader. Ties go to the leader id that sorts first.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

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
        active = sorted((l for l in leaders if l.active), key=lambda l: l.id)
        self.ids = [l.id for l in active]
        self.cell_km = cell_km
        lat = np.array([l.lat for l in active], dtype=np.float64)
        lon = np.array([l.lon for l in active], dtype=np.float64)
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
        counts = np.bincount(cell, minlength=self.width * self.height)
        self.start = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        # each cell's 3 x 3 block of cells, as positions into x / y / rank: most queries
        # find their leader there and need one numpy step
        blocks = []
        for gy in range(self.height):
            for gx in range(self.width):
                parts = [np.arange(self.start[ny * self.width + nx], self.start[ny * self.width + nx + 1])
                         for ny in range(max(gy - 1, 0), min(gy + 2, self.height))
                         for nx in range(max(gx - 1, 0), min(gx + 2, self.width))]
                blocks.append(np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64))
        self.block_start = np.concatenate(([0], np.cumsum([len(b) for b in blocks]))).astype(np.int64)
        self.block = np.concatenate(blocks).astype(np.int64) if blocks else np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.ids)

    def _project(self, lat, lon):
        return np.asarray(lon) * self.cos0 * KM_PER_DEGREE, np.asarray(lat) * KM_PER_DEGREE

    def nearest(self, lat: float, lon: float) -> Optional[tuple]:
        """(leader id, distance in km) of the nearest active leader, or None without any."""
        if not self.ids:
            return None
        x, y = self._project(lat, lon)
        qx, qy = float(x), float(y)
        cx = math.floor((qx - self.x0) / self.cell_km)
        cy = math.floor((qy - self.y0) / self.cell_km)
        if 0 <= cx < self.width and 0 <= cy < self.height:
            cell = cy * self.width + cx
            near = self.block[self.block_start[cell]:self.block_start[cell + 1]]
            if len(near):
                d2 = (self.x[near] - qx) ** 2 + (self.y[near] - qy) ** 2
                k = int(np.argmin(d2))
                if d2[k] <= self.cell_km ** 2:  # nothing outside the block can be nearer
                    rank = int(self.rank[near][d2 == d2[k]].min())
                    return self.ids[rank], math.sqrt(float(d2[k]))
        best, best_d2 = None, math.inf
        ring = 0
        reach = max(self.width, self.height) + abs(cx) + abs(cy)
        while ring <= reach:
            # every cell at Chebyshev distance `ring` from the query's cell, clipped to the grid
            x_lo, x_hi = max(cx - ring, 0), min(cx + ring, self.width - 1)
            y_lo, y_hi = max(cy - ring, 0), min(cy + ring, self.height - 1)
            if x_lo <= x_hi and y_lo <= y_hi:
                rows = np.arange(y_lo, y_hi + 1)
                for gy in rows:
                    if abs(gy - cy) == ring:
                        spans = [(x_lo, x_hi)]
                    else:
                        spans = [(cx - ring, cx - ring), (cx + ring, cx + ring)]
                    for a, b in spans:
                        a, b = max(a, x_lo), min(b, x_hi)
                        if a > b:
                            continue
                        lo, hi = self.start[gy * self.width + a], self.start[gy * self.width + b + 1]
                        if lo == hi:
                            continue
                        d2 = (self.x[lo:hi] - qx) ** 2 + (self.y[lo:hi] - qy) ** 2
                        k = int(np.argmin(d2))
                        close = d2 == d2[k]
                        rank = int(self.rank[lo:hi][close].min())
                        if d2[k] < best_d2 or (d2[k] == best_d2 and rank < best):
                            best, best_d2 = rank, float(d2[k])
            # a cell in a ring further out lies at least `ring * cell` away
            if best is not None and math.sqrt(best_d2) <= ring * self.cell_km:
                break
            ring += 1
        return self.ids[best], math.sqrt(best_d2)

    def nearest_many(self, lats, lons) -> list:
        """`nearest()` for each point."""
        return [self.nearest(float(a), float(b)) for a, b in zip(lats, lons)]
