"""Static drawings (PNG, SVG) of a network or projection for reports, with matplotlib.

No pyplot and no global matplotlib state: a :class:`matplotlib.figure.Figure` is drawn and saved
(``savefig`` picks the Agg renderer for PNG and the SVG renderer for SVG, where text becomes paths,
so the file shows the same everywhere). Chinese labels need a font with CJK glyphs: :func:`cjk_font`
finds one through matplotlib's font manager or fontconfig, and :class:`RenderError` says what to
install when there is none (``scripts/setup-assets.sh`` installs Debian's ``fonts-wqy-microhei``).

Layout: Fruchterman–Reingold (``networkx.spring_layout``, seeded, so a drawing is reproducible).
Nodes are coloured by type (agencies by level) or by community, sized by a metric; the largest
nodes and every agency of a small graph are labelled.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

import networkx as nx

from .errors import BudgetKGError
from .network import EDGE_COLOURS, LABELS_ZH, NODE_COLOURS, NetworkResult, node_colour, simple_view

#: Families tried first, in order (Debian: fonts-noto-cjk, fonts-wqy-microhei, fonts-wqy-zenhei, fonts-arphic-*).
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei",
                "Droid Sans Fallback", "AR PL UMing CN", "AR PL UKai CN", "Noto Serif CJK SC")
#: Characters a usable font must draw (from the labels it will show).
PROBE = "预算项目绩效目标天津市公安局"
RENDER_FORMATS = ("png", "svg")
#: Community colours (projection drawings, or ``colour_by="community"``); the rest are grey.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
           "#7f7f7f", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd")


class RenderError(BudgetKGError):
    """A drawing cannot be made (no CJK font, matplotlib missing, unknown format)."""


def _covers(path: str, text: str = PROBE) -> bool:
    try:
        from matplotlib.ft2font import FT2Font

        charmap = FT2Font(path).get_charmap()
    except (OSError, RuntimeError, ValueError):
        return False
    return all(ord(c) in charmap for c in text)


@lru_cache(maxsize=1)
def cjk_font() -> str:
    """Path of an installed font that draws Chinese, registered with matplotlib's font manager.

    Looks for :data:`CJK_FAMILIES` among the fonts matplotlib knows, then asks fontconfig
    (``fc-list :lang=zh``); raises :class:`RenderError` naming the Debian packages when none is found.
    """
    try:
        from matplotlib import font_manager
    except ImportError:
        raise RenderError("PNG/SVG drawings need matplotlib: pip install matplotlib") from None
    known = {f.name: f.fname for f in font_manager.fontManager.ttflist}
    for family in CJK_FAMILIES:
        path = known.get(family)
        if path and _covers(path):
            return path
    candidates: list[str] = []
    if shutil.which("fc-list"):
        try:
            out = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=20,
                                 check=False).stdout
            candidates = sorted({line.split(":", 1)[0].strip() for line in out.splitlines() if line.strip()},
                                key=lambda p: ("sans" not in p.lower() and "hei" not in p.lower(), p))
        except (OSError, subprocess.SubprocessError):
            candidates = []
    for root in ("/usr/share/fonts", "/usr/local/share/fonts"):
        base = Path(root)
        if base.is_dir():
            candidates += sorted(str(p) for p in base.rglob("*") if p.suffix.lower() in (".ttc", ".otf", ".ttf")
                                 and any(k in p.name.lower() for k in ("cjk", "wqy", "droidsansfallback", "uming",
                                                                         "ukai", "sourcehan")))
    for path in candidates:
        if _covers(path):
            font_manager.fontManager.addfont(path)
            return path
    raise RenderError("no font with Chinese glyphs is installed, so zh labels cannot be drawn: install Debian's "
                      "fonts-wqy-microhei or fonts-noto-cjk (scripts/setup-assets.sh does it when run as root)")


#: Components larger than this are laid out by their best-connected nodes only (Fruchterman–Reingold
#: is quadratic in the nodes per iteration); the others are placed beside their laid-out neighbours.
LAYOUT_FULL_MAX = 2000


def _component_layout(sub: nx.Graph, seed: int, weighted: bool) -> dict[Any, tuple[float, float]]:
    """Fruchterman–Reingold on one connected component; on a large one, on its skeleton of the
    :data:`LAYOUT_FULL_MAX` highest-degree nodes, the rest placed breadth-first at the mean of their
    placed neighbours with a small seeded jitter."""
    import random

    n = sub.number_of_nodes()
    weight = "weight" if weighted else None
    skeleton = sub
    if n > LAYOUT_FULL_MAX:
        ranked = sorted(sub.degree(), key=lambda nd: (-nd[1], str(nd[0])))
        skeleton = sub.subgraph([node for node, _ in ranked[:LAYOUT_FULL_MAX]])
    m = skeleton.number_of_nodes()
    pos = {node: (float(x), float(y)) for node, (x, y) in nx.spring_layout(
        skeleton, k=1.6 / math.sqrt(m), iterations=120 if m <= 1000 else 60, seed=seed, weight=weight).items()}
    if len(pos) == n:
        return pos
    rng = random.Random(seed)
    jitter = 0.6 / math.sqrt(m)
    frontier = list(pos)
    while frontier:
        nxt = []
        for u in frontier:
            for v in sorted(sub[u], key=str):
                if v in pos:
                    continue
                placed = [pos[w] for w in sub[v] if w in pos]
                pos[v] = (sum(p[0] for p in placed) / len(placed) + rng.uniform(-jitter, jitter),
                          sum(p[1] for p in placed) / len(placed) + rng.uniform(-jitter, jitter))
                nxt.append(v)
        frontier = nxt
    for v in sub:  # unreachable from the skeleton cannot happen in a component, but stay total
        pos.setdefault(v, (rng.uniform(-1, 1), rng.uniform(-1, 1)))
    return pos


def layout(g: nx.Graph, seed: int = 0, weighted: bool = False) -> dict[Any, tuple[float, float]]:
    """Seeded Fruchterman–Reingold positions, one connected component at a time, packed in rows.

    Each component gets a square of side ~sqrt(its size), largest first, so isolated agencies do not
    push the rest into a corner. Weights are used only when ``weighted`` (a projection, whose weights
    are comparable counts); a component of more than :data:`LAYOUT_FULL_MAX` nodes is laid out by its
    skeleton (see :func:`_component_layout`).
    """
    h = simple_view(g)
    if h.number_of_nodes() == 0:
        return {}
    components = sorted((sorted(c, key=str) for c in nx.connected_components(h)), key=lambda c: (-len(c), str(c[0])))
    boxes: list[tuple[list[Any], dict[Any, tuple[float, float]], float]] = []
    for members in components:
        n = len(members)
        side = math.sqrt(n)
        if n == 1:
            boxes.append((members, {members[0]: (0.0, 0.0)}, 1.0))
            continue
        pos = _component_layout(h.subgraph(members), seed, weighted)
        xs = [p[0] for p in pos.values()]
        ys = [p[1] for p in pos.values()]
        span = max(max(xs) - min(xs), max(ys) - min(ys)) or 1.0
        boxes.append((members, {m: ((pos[m][0] - min(xs)) / span * side, (pos[m][1] - min(ys)) / span * side)
                                for m in members}, side))
    total = sum((b[2] + 1.0) ** 2 for b in boxes)
    row_width = max(math.sqrt(total) * 1.2, boxes[0][2] + 1.0)
    out: dict[Any, tuple[float, float]] = {}
    x = y = row_height = 0.0
    for _members, pos, side in boxes:
        if x > 0 and x + side > row_width:
            x, y, row_height = 0.0, y - row_height - 1.0, 0.0
        for m, (px, py) in pos.items():
            out[m] = (x + px, y - side + py)
        x += side + 1.0
        row_height = max(row_height, side)
    return out


def render(result: NetworkResult, path: str | Path, fmt: str | None = None, *, size_by: str = "weighted_degree",
           colour_by: str | None = None, labels: int = 20, title: str | None = None, seed: int = 0,
           width: float = 16.0, height: float = 12.0, dpi: int = 150) -> Path:
    """Draw ``result.graph`` to ``path`` as PNG or SVG (``fmt``, default from the suffix).

    ``size_by``: a numeric node attribute (``weighted_degree``, ``degree``, ``betweenness``,
    ``budget_wanyuan`` …). ``colour_by``: ``type`` (default for the network) or ``community``
    (default for a projection). ``labels``: how many of the largest nodes are labelled (agencies
    of a graph of at most 80 nodes always are).
    """
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt not in RENDER_FORMATS:
        raise RenderError(f"cannot draw {fmt!r}: the drawing formats are {', '.join(RENDER_FORMATS)}")
    font = cjk_font()
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties
    from matplotlib.lines import Line2D

    g = result.graph
    view = result.options.projection
    colour_by = colour_by or ("community" if view else "type")
    pos = layout(g, seed, weighted=bool(view))
    nodes = list(g.nodes)
    values = [float(g.nodes[n].get(size_by, 0.0) or 0.0) for n in nodes]
    top = max(values, default=0.0) or 1.0
    sizes = [12 + 420 * math.sqrt(v / top) for v in values]
    if colour_by == "community":
        colours = [PALETTE[c] if (c := g.nodes[n].get("community", -1)) is not None and 0 <= c < len(PALETTE)
                   else "#bbbbbb" for n in nodes]
    else:
        colours = [node_colour(g.nodes[n]) for n in nodes]

    fp = FontProperties(fname=font, size=7)
    fp_title = FontProperties(fname=font, size=14)
    fp_legend = FontProperties(fname=font, size=9)
    fig = Figure(figsize=(width, height), dpi=dpi)
    ax = fig.add_axes((0.01, 0.01, 0.83, 0.93))
    ax.set_axis_off()

    segments, seg_colours, seg_widths = [], [], []
    weights = [w for _, _, w in g.edges(data="weight", default=1.0)]
    wmax = max(weights, default=1.0) or 1.0
    for u, v, d in g.edges(data=True):
        if u == v:
            continue
        segments.append((pos[u], pos[v]))
        seg_colours.append(EDGE_COLOURS.get(d.get("kind", ""), "#999999"))
        seg_widths.append(0.4 + 3.0 * (d.get("weight", 1.0) / wmax) if view else 0.5)
    if segments:
        ax.add_collection(LineCollection(segments, colors=seg_colours, linewidths=seg_widths, alpha=0.45, zorder=1))
    if nodes:
        xs = [pos[n][0] for n in nodes]
        ys = [pos[n][1] for n in nodes]
        ax.scatter(xs, ys, s=sizes, c=colours, edgecolors="white", linewidths=0.5, zorder=2)
        pad = 0.07 * max(max(xs) - min(xs), max(ys) - min(ys), 1.0)
        ax.set_xlim(min(xs) - pad, max(xs) + pad)
        ax.set_ylim(min(ys) - pad, max(ys) + pad)

    ranked = sorted(nodes, key=lambda n: (-float(g.nodes[n].get(size_by, 0.0) or 0.0), str(n)))
    shown = set(ranked[:labels])
    if g.number_of_nodes() <= 80:
        shown |= {n for n in nodes if g.nodes[n].get("type") == "agency"}
    for n in ranked:
        if n in shown:
            label = str(g.nodes[n].get("label", n))
            if len(label) > 18:
                label = label[:17] + "…"
            x, y = pos[n]
            ax.text(x, y, label, fontproperties=fp, ha="center", va="bottom", zorder=3, color="#1d2330",
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.7})

    handles = []
    types_present = {("department" if d.get("type") == "agency" and d.get("level") == "department" else d.get("type"))
                     for _, d in g.nodes(data=True)}
    if colour_by == "type":
        for t in ("agency", "department", "project", "funding", "concept", "vendor"):
            if t in types_present:
                handles.append(Line2D([], [], marker="o", linestyle="", color=NODE_COLOURS[t], markersize=8,
                                      label=f"{LABELS_ZH[t]} {t}"))
    kinds_present = sorted({d.get("kind", "") for _, _, d in g.edges(data=True)})
    for k in kinds_present:
        handles.append(Line2D([], [], color=EDGE_COLOURS.get(k, "#999999"), linewidth=2,
                              label=f"{LABELS_ZH.get(k, k)} {k}"))
    if handles:
        fig.legend(handles=handles, prop=fp_legend, loc="upper right", bbox_to_anchor=(0.995, 0.93), frameon=False)
    what = f"{view}–{view} projection" if view else "agency–project network"
    zh = "单位关联投影" if view else "单位—项目网络"
    o = result.options
    filters = ", ".join(x for x in (f"department {o.department}" if o.department else "",
                                    f"funding {o.funding}" if o.funding else "",
                                    f"min weight {o.min_weight:g}" if o.min_weight else "") if x)
    heading = title or (f"预算项目支出绩效目标 · {zh} · {what}: {g.number_of_nodes()} nodes, "
                        f"{g.number_of_edges()} edges" + (f" ({filters})" if filters else "")
                        + f"; size = {size_by}")
    fig.suptitle(heading, fontproperties=fp_title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(str(path), format=fmt, facecolor="white")
    return path
