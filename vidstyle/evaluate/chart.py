"""A small line chart drawn with Pillow: axes, ticks, labels, legend (no plotting library).

Used for per-frame curves such as the warping error of ``vidstyle eval``; NaN values
break a line. Drawn at twice the size and downsampled, so lines are anti-aliased.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from PIL import Image, ImageDraw, ImageFont

# Colour-blind-friendly palette (Okabe & Ito), in series order.
PALETTE = ((0, 114, 178), (230, 159, 0), (0, 158, 115), (204, 121, 167), (86, 180, 233), (213, 94, 0), (0, 0, 0))
_SS = 2  # supersampling factor


def nice_ticks(lo: float, hi: float, target: int = 6) -> list[float]:
    """Round tick values (1, 2, 2.5 or 5 × 10^k apart) covering [lo, hi], about ``target`` of them."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0, 1.0]
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(1, target - 1)
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw * (1 - 1e-9))
    first = math.floor(lo / step + 1e-9) * step
    n = math.ceil((hi - first) / step - 1e-9)
    return [round(first + i * step, 12) for i in range(n + 1)]


def _label(v: float, step: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e5 or abs(v) < 1e-4:
        return f"{v:.2e}"
    exp = math.floor(math.log10(step) + 1e-9)
    mantissa = step / 10.0**exp
    decimals = max(0, -exp + (1 if abs(mantissa - 2.5) < 1e-6 else 0))
    return f"{v:.{decimals}f}"


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # pragma: no cover - Pillow without FreeType
        return ImageFont.load_default()


def line_chart(
    x: Sequence[float],
    series: Mapping[str, Sequence[float]],
    *,
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    size: tuple[int, int] = (960, 460),
    means: Mapping[str, float] | None = None,
) -> Image.Image:
    """An RGB chart of each series against ``x``; ``means`` (optional) adds dashed lines.

    The y axis starts at 0 (errors are non-negative) and ends at a round value above the
    largest finite value. Legend entries are the series names, in order.
    """
    if any(len(v) != len(x) for v in series.values()):
        raise ValueError("every series needs one value per x")
    W, H = size[0] * _SS, size[1] * _SS
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    f_title, f_text, f_small = _font(17 * _SS), _font(13 * _SS), _font(12 * _SS)
    left, right, top, bottom = 90 * _SS, 24 * _SS, 48 * _SS, 62 * _SS
    x0, x1, y0, y1 = left, W - right, top, H - bottom  # plot area (y0 top)

    values = [float(v) for s in series.values() for v in s if v is not None and math.isfinite(v)]
    ymax = max(values) if values else 1.0
    yt = nice_ticks(0.0, ymax if ymax > 0 else 1.0)
    ytop = yt[-1]
    xs = [float(v) for v in x]
    xlo, xhi = (min(xs), max(xs)) if xs else (0.0, 1.0)
    if xhi <= xlo:
        xlo, xhi = xlo - 1, xhi + 1
    xt = [t for t in nice_ticks(xlo, xhi, 8) if xlo - 1e-9 <= t <= xhi + 1e-9]

    def px(v: float) -> float:
        return x0 + (v - xlo) / (xhi - xlo) * (x1 - x0)

    def py(v: float) -> float:
        return y1 - v / ytop * (y1 - y0)

    grid, axis, text = (228, 228, 228), (60, 60, 60), (30, 30, 30)
    ystep = yt[1] - yt[0] if len(yt) > 1 else 1.0
    for t in yt:
        d.line([(x0, py(t)), (x1, py(t))], fill=grid, width=_SS)
        d.text((x0 - 8 * _SS, py(t)), _label(t, ystep), fill=text, font=f_small, anchor="rm")
    xstep = xt[1] - xt[0] if len(xt) > 1 else 1.0
    for t in xt:
        d.line([(px(t), y1), (px(t), y1 + 5 * _SS)], fill=axis, width=_SS)
        d.text((px(t), y1 + 8 * _SS), _label(t, xstep), fill=text, font=f_small, anchor="mt")
    d.line([(x0, y0), (x0, y1), (x1, y1)], fill=axis, width=_SS)
    if title:
        d.text((W / 2, 16 * _SS), title, fill=text, font=f_title, anchor="mt")
    if xlabel:
        d.text(((x0 + x1) / 2, H - 14 * _SS), xlabel, fill=text, font=f_text, anchor="mb")
    if ylabel:
        tw = int(d.textlength(ylabel, font=f_text)) + 4 * _SS
        th = 20 * _SS
        lab = Image.new("RGBA", (tw, th), (255, 255, 255, 0))
        ImageDraw.Draw(lab).text((tw / 2, th / 2), ylabel, fill=text, font=f_text, anchor="mm")
        lab = lab.rotate(90, expand=True)
        img.paste(lab, (6 * _SS, int((y0 + y1) / 2 - lab.height / 2)), lab)

    markers = len(xs) <= 60
    for k, (name, vals) in enumerate(series.items()):
        colour = PALETTE[k % len(PALETTE)]
        run: list[tuple[float, float]] = []
        points: list[tuple[float, float]] = []
        for xv, yv in zip(xs, vals, strict=True):
            if yv is None or not math.isfinite(yv):
                if len(run) > 1:
                    d.line(run, fill=colour, width=2 * _SS, joint="curve")
                run = []
                continue
            p = (px(xv), py(float(yv)))
            run.append(p)
            points.append(p)
        if len(run) > 1:
            d.line(run, fill=colour, width=2 * _SS, joint="curve")
        if markers or len(points) == 1:
            r = 2.5 * _SS
            for cx, cy in points:
                d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
        m = (means or {}).get(name)
        if m is not None and math.isfinite(m):
            yy, xx = py(m), float(x0)
            while xx < x1:
                d.line([(xx, yy), (min(xx + 8 * _SS, x1), yy)], fill=colour, width=_SS)
                xx += 14 * _SS

    if series:  # legend, top right inside the plot area
        labels = list(series)
        if means:
            labels = [f"{n} (mean {means[n]:.3g})" if n in means and math.isfinite(means[n]) else n for n in series]
        lw = max(int(d.textlength(s, font=f_text)) for s in labels) + 44 * _SS
        lh = 20 * _SS * len(labels) + 10 * _SS
        bx1, by0 = x1 - 10 * _SS, y0 + 8 * _SS
        d.rectangle([bx1 - lw, by0, bx1, by0 + lh], fill=(255, 255, 255), outline=(190, 190, 190), width=_SS)
        for k, s in enumerate(labels):
            cy = by0 + 15 * _SS + k * 20 * _SS
            colour = PALETTE[k % len(PALETTE)]
            d.line([(bx1 - lw + 8 * _SS, cy), (bx1 - lw + 32 * _SS, cy)], fill=colour, width=3 * _SS)
            d.text((bx1 - lw + 38 * _SS, cy), s, fill=text, font=f_text, anchor="lm")
    return img.resize(size, Image.Resampling.LANCZOS)
