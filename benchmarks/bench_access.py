"""Benchmark: nearest-service distances on city-sized generated data.

Not a test: ``python benchmarks/bench_access.py [--households N] [--services M] [--side K]``.

Generated data: ``N`` household points (default 1,000,000) and ``M`` service points (default
10,000) spread uniformly over a perturbed ``K × K`` street grid (default 224 × 224 ≈ 50,000
nodes, 50 m blocks, nodes jittered by up to ±10 m), all in EPSG:32737.

Compared, in one run:

- straight line: :func:`profiling.access.nearest_service_distance` (``cKDTree``) vs
  ``geopandas.sjoin_nearest``;
- network: :meth:`StreetNetwork.attach` + one multi-source Dijkstra
  (:func:`profiling.network.nearest_along_network`) vs the usual implementation of the same:
  ``shapely.STRtree.query_nearest`` to attach (as osmnx ``nearest_edges``), then networkx on
  the same graph with the same virtual nodes (targets and origins joined to their segment's
  end nodes, ``nx.multi_source_dijkstra_path_length``). The peer runs on all ``N``
  households by default; ``--nx-sample k`` times it on ``k`` and scales linearly (said in
  the output). networkx's Dijkstra over the bare street graph is also timed alone.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely

from profiling.access import nearest_service_distance
from profiling.network import Attachment, StreetNetwork, nearest_along_network

CRS = 32737


def timed(label: str, fn: Callable[[], Any], *, repeat: int = 1) -> tuple[float, Any]:
    best, result = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    print(f"  {label:<58s} {best:8.3f} s")
    return best, result


def perturbed_grid(
    side: int, block: float, jitter: float, rng: np.random.Generator
) -> gpd.GeoSeries:
    ii, jj = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    xy = np.stack([ii * block, jj * block], axis=-1).astype(float)
    xy += rng.uniform(-jitter, jitter, size=xy.shape)
    horiz = np.stack([xy[:-1, :], xy[1:, :]], axis=2).reshape(-1, 2, 2)
    vert = np.stack([xy[:, :-1], xy[:, 1:]], axis=2).reshape(-1, 2, 2)
    return gpd.GeoSeries(shapely.linestrings(np.concatenate([horiz, vert])), crs=CRS)


def networkx_nearest(net: StreetNetwork, o: Attachment, t: Attachment) -> np.ndarray:
    """The same computation in networkx: one graph, virtual nodes, multi-source Dijkstra."""
    g = nx.Graph()
    for u, v, w in zip(
        net.seg_start.tolist(), net.seg_end.tolist(), net.seg_length_m.tolist(), strict=True
    ):
        g.add_edge(u, v, weight=w)

    def link(tag: str, att: Attachment) -> None:
        a = net.seg_start[att.segment].tolist()
        b = net.seg_end[att.segment].tolist()
        wa = (att.offset_m + att.along_start_m).tolist()
        wb = (att.offset_m + att.along_end_m).tolist()
        for i in range(len(att)):
            g.add_edge((tag, i), a[i], weight=wa[i])
            g.add_edge((tag, i), b[i], weight=wb[i])

    link("t", t)
    link("o", o)
    # Same-segment pairs: direct edges.
    by_seg: dict[int, list[int]] = {}
    for j, s in enumerate(t.segment.tolist()):
        by_seg.setdefault(s, []).append(j)
    for i, s in enumerate(o.segment.tolist()):
        for j in by_seg.get(s, ()):
            w = o.offset_m[i] + abs(o.along_start_m[i] - t.along_start_m[j]) + t.offset_m[j]
            if not g.has_edge(("o", i), ("t", j)) or g[("o", i)][("t", j)]["weight"] > w:
                g.add_edge(("o", i), ("t", j), weight=w)
    lengths = nx.multi_source_dijkstra_path_length(g, {("t", j) for j in range(len(t))})
    return np.array([lengths.get(("o", i), np.inf) for i in range(len(o))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=1_000_000)
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--side", type=int, default=224)
    parser.add_argument("--nx-sample", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    block = 50.0
    extent = (args.side - 1) * block

    print(
        f"generating: {args.households:,} households, {args.services:,} services, "
        f"{args.side}×{args.side} perturbed grid"
    )
    streets = perturbed_grid(args.side, block, 10.0, rng)
    hh_xy = rng.uniform(0, extent, size=(args.households, 2))
    sv_xy = rng.uniform(0, extent, size=(args.services, 2))
    households = gpd.GeoDataFrame(geometry=shapely.points(hh_xy), crs=CRS)
    services = gpd.GeoDataFrame(
        {"service_id": [f"s{i}" for i in range(args.services)], "service_type": "water_point"},
        geometry=shapely.points(sv_xy),
        crs=CRS,
    )

    print("\nstraight-line nearest service")
    ours_s, ours = timed(
        "ours: nearest_service_distance (cKDTree)",
        lambda: nearest_service_distance(households, services),
        repeat=3,
    )
    peer_s, peer = timed(
        "peer: geopandas.sjoin_nearest",
        lambda: gpd.sjoin_nearest(households, services, distance_col="d"),
    )
    peer = peer[~peer.index.duplicated()]
    agree = np.allclose(peer["d"].sort_index().to_numpy(), ours["distance_m"].to_numpy())
    print(f"  ratio sjoin_nearest / ours: {peer_s / ours_s:6.1f}×   (distances agree: {agree})")

    print("\nstreet network")
    build_s, net = timed(
        "build StreetNetwork.from_lines (noding, snapping, CSR)",
        lambda: StreetNetwork.from_lines(streets),
    )
    print(f"  {net!r}")
    attach_h_s, o = timed(
        "attach households (cKDTree pieces + projection)", lambda: net.attach(hh_xy)
    )
    attach_s_s, t = timed("attach services", lambda: net.attach(sv_xy))
    search_s, res = timed(
        "one multi-source Dijkstra + origin side",
        lambda: nearest_along_network(o, t, net),
        repeat=3,
    )
    ours_n = attach_h_s + attach_s_s + search_s
    print(
        f"  ours (attach + search, network prebuilt): {ours_n:.3f} s; unreachable {res.unreachable}"
    )
    e2e_s, _ = timed(
        "ours end to end: nearest_service_distance(method='network')",
        lambda: nearest_service_distance(
            households, services, method="network", network=StreetNetwork.from_lines(streets)
        ),
    )

    k = min(args.nx_sample, args.households)
    idx = rng.choice(args.households, size=k, replace=False) if k < args.households else None
    sample_xy = hh_xy if idx is None else hh_xy[idx]
    tree = shapely.STRtree(net.segments().to_numpy())
    strtree_s, near = timed(
        f"peer attach: shapely STRtree.query_nearest, {k:,} households",
        lambda: tree.query_nearest(shapely.points(sample_xy), all_matches=False),
    )
    o_peer = (
        o
        if idx is None
        else Attachment(
            o.segment[idx],
            o.projected[idx],
            o.offset_m[idx],
            o.along_start_m[idx],
            o.along_end_m[idx],
        )
    )
    same_seg = np.array_equal(near[1][np.argsort(near[0])], o_peer.segment) or np.allclose(
        net._segment_distance(sample_xy, near[1][np.argsort(near[0])]), o_peer.offset_m
    )
    nx_s, theirs = timed(
        f"peer routing: networkx graph + virtual nodes, {k:,} households",
        lambda: networkx_nearest(net, o_peer, t),
    )
    ours_d = res.distance_m if idx is None else res.distance_m[idx]
    err = float(np.max(np.abs(theirs - ours_d)))
    scale = args.households / k
    peer_n = (strtree_s + nx_s) * scale
    note = "" if idx is None else f" (sample of {k:,}, scaled ×{scale:.0f} linearly)"
    print(
        f"  peer total{note}: {peer_n:.1f} s; same attachment: {same_seg}; "
        f"max |ours - networkx| = {err:.2e} m"
    )

    g = nx.Graph()
    g.add_weighted_edges_from(
        zip(net.seg_start.tolist(), net.seg_end.tolist(), net.seg_length_m.tolist(), strict=True)
    )
    sources = set(np.unique(net.seg_start[t.segment]).tolist())
    nx_search_s, _ = timed(
        "networkx multi_source_dijkstra alone (street graph only)",
        lambda: nx.multi_source_dijkstra_path_length(g, sources),
    )

    n = f"{args.households:,}"
    print(f"\n  network build (noding, snapping, CSR): {build_s:.3f} s")
    print("\nsummary")
    print(
        f"  straight {n}: ours {ours_s:.3f} s vs sjoin_nearest {peer_s:.3f} s "
        f"= {peer_s / ours_s:.1f}x (target < 1 s, >= 5x)"
    )
    print(
        f"  network {n}: ours {ours_n:.3f} s (end to end incl. build {e2e_s:.3f} s) vs "
        f"STRtree + networkx {peer_n:.1f} s = {peer_n / ours_n:.1f}x (target < 5 s, >= 10x)"
    )
    print(
        f"    attach: ours {attach_h_s:.3f} s vs STRtree {strtree_s * scale:.3f} s; routing: "
        f"ours {search_s:.3f} s vs networkx {nx_s * scale:.1f} s "
        f"= {nx_s * scale / search_s:.0f}x"
    )
    print(f"  Dijkstra over the street graph alone: networkx {nx_search_s:.3f} s")


if __name__ == "__main__":
    main()
