"""White-balance-preserving views for contrastive pretraining.

SimCLR learns whatever its augmentations leave unchanged. The usual recipe (colour jitter, grayscale,
blur) teaches the encoder to *ignore* colour casts — exactly the signal white balance needs. Here
every augmentation moves or mirrors pixels but never changes one: random resized crops (zoom in),
zoom out (the frame shrunk, the border filled by *reflecting* the image, so no constant-colour border
shifts the colour statistics), horizontal flips, and object pastes (a patch of another photo of the
batch, as an extra subject or light source entering the frame would appear). The only change in
pixel values is bilinear interpolation error.

Crop, zoom-out and flip are one box per image handed to `kornia.geometry.transform.crop_and_resize`
(a single resampling; a flip is the same box with its left and right corners swapped). All random
draws come from one `torch.Generator` on the CPU, so a seed fixes the views on every device.
"""
from __future__ import annotations

import math

import torch


def _uniform(n: int, lo: float, hi: float, g: torch.Generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g, dtype=torch.float64)


class WBViewAugment:
    """Batched random views `(B,3,H,W)` float [0,1] -> `(B,3,out_size,out_size)`, white balance untouched.

    crop_scale: area fraction of the source kept by the random resized crop (zoom in).
    aspect: range of the crop's width/height ratio (sampled log-uniformly; mild).
    zoom_out: scale of the shrunk frame inside the view when zooming out (< 1 = smaller).
    p_zoom_out: probability that a view zooms out instead of cropping in.
    p_flip: probability of a horizontal flip.
    p_paste: probability that a view receives a patch of another image of the batch.
    paste_area: area fraction of the view covered by the pasted patch.
    seed: seeds the augmenter's own generator; a generator passed to `__call__` takes precedence.
    """

    def __init__(self, out_size: int, crop_scale: tuple[float, float] = (0.25, 1.0),
                 zoom_out: tuple[float, float] = (0.7, 1.0), p_zoom_out: float = 0.2, p_flip: float = 0.5,
                 p_paste: float = 0.5, paste_area: tuple[float, float] = (0.05, 0.2),
                 aspect: tuple[float, float] = (3 / 4, 4 / 3), seed: int | None = None):
        if not 0 < crop_scale[0] <= crop_scale[1] <= 1:
            raise ValueError(f"crop_scale must satisfy 0 < lo <= hi <= 1, got {crop_scale}")
        if not 0 < zoom_out[0] <= zoom_out[1] <= 1:
            raise ValueError(f"zoom_out must satisfy 0 < lo <= hi <= 1, got {zoom_out}")
        if not 0 < paste_area[0] <= paste_area[1] < 1:
            raise ValueError(f"paste_area must satisfy 0 < lo <= hi < 1, got {paste_area}")
        self.out_size = int(out_size)
        self.crop_scale, self.zoom_out, self.aspect = crop_scale, zoom_out, aspect
        self.p_zoom_out, self.p_flip, self.p_paste, self.paste_area = p_zoom_out, p_flip, p_paste, paste_area
        self.generator = torch.Generator()
        self.generator.manual_seed(0 if seed is None else seed)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected images (B,3,H,W), got shape {tuple(x.shape)}")
        g = generator if generator is not None else self.generator
        from kornia.geometry.transform import crop_and_resize  # lazy: kornia costs ~0.2 s of CLI start-up

        views = crop_and_resize(x, self._boxes(x.shape[0], x.shape[2], x.shape[3], g).to(x),
                                (self.out_size, self.out_size), mode="bilinear", padding_mode="reflection",
                                align_corners=True)
        return self._paste(views, g)

    # --- crop / zoom-out / flip: one source box per image --------------------------------------
    def _boxes(self, b: int, h: int, w: int, g: torch.Generator) -> torch.Tensor:
        """(B,4,2) corners (x,y) in inclusive pixel coordinates: TL, TR, BR, BL."""
        # zoom in: torchvision-style random resized crop, area fraction and log-uniform aspect ratio.
        area = _uniform(b, *self.crop_scale, g)
        ratio = torch.exp(_uniform(b, math.log(self.aspect[0]), math.log(self.aspect[1]), g))
        cw = (torch.sqrt(area * ratio) * w).clamp(2.0, w)  # clamping keeps the box inside the photo
        ch = (torch.sqrt(area / ratio) * h).clamp(2.0, h)
        cx = _uniform(b, 0, 1, g) * (w - cw)
        cy = _uniform(b, 0, 1, g) * (h - ch)
        # zoom out: the whole frame becomes a `scale` fraction of the view; the box is larger than the
        # photo and the part outside is filled by reflection (pixels of the photo itself).
        zoom = torch.rand(b, generator=g) < self.p_zoom_out
        scale = _uniform(b, *self.zoom_out, g)
        zw, zh = w / scale, h / scale
        zx = -_uniform(b, 0, 1, g) * (zw - w)
        zy = -_uniform(b, 0, 1, g) * (zh - h)
        x0, y0 = torch.where(zoom, zx, cx), torch.where(zoom, zy, cy)
        bw, bh = torch.where(zoom, zw, cw), torch.where(zoom, zh, ch)
        # box edges in pixel-centre coordinates (align_corners=True maps them onto the view's corners)
        x1, y1 = x0 + bw - 1, y0 + bh - 1
        flip = torch.rand(b, generator=g) < self.p_flip
        left, right = torch.where(flip, x1, x0), torch.where(flip, x0, x1)
        boxes = torch.stack([torch.stack([left, y0], -1), torch.stack([right, y0], -1),
                             torch.stack([right, y1], -1), torch.stack([left, y1], -1)], 1)
        return boxes.float()

    # --- object paste ---------------------------------------------------------------------------
    def _paste(self, views: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """Copy a rectangle of another view of the batch (its pixels unchanged) onto some views."""
        b, _, h, w = views.shape
        if b < 2 or self.p_paste <= 0:
            return views
        do = torch.rand(b, generator=g) < self.p_paste
        donor = (torch.arange(b) + torch.randint(1, b, (b,), generator=g)) % b  # never the image itself
        area = _uniform(b, *self.paste_area, g) * h * w
        ratio = torch.exp(_uniform(b, math.log(0.5), math.log(2.0), g))
        ph = torch.sqrt(area / ratio).round().clamp(1, h).long()
        pw = (area / ph).round().clamp(1, w).long()
        # top-left corner of the patch in the donor (source) and in the receiving view (destination)
        sy = (torch.rand(b, generator=g) * (h - ph + 1)).long()
        sx = (torch.rand(b, generator=g) * (w - pw + 1)).long()
        dy = (torch.rand(b, generator=g) * (h - ph + 1)).long()
        dx = (torch.rand(b, generator=g) * (w - pw + 1)).long()
        # copy only the patches (a few percent of the pixels), not a gather over every pixel of the
        # batch: the same views, less augmentation time. Every patch is read before any is written,
        # so a donor that also receives a patch gives its own pixels, as drawn. `views` is the
        # resampler's fresh tensor, so it is written in place.
        idx = do.nonzero().flatten().tolist()
        sy, sx, dy, dx, ph, pw, donor = (t.tolist() for t in (sy, sx, dy, dx, ph, pw, donor))
        patches = [views[donor[i], :, sy[i]:sy[i] + ph[i], sx[i]:sx[i] + pw[i]].clone() for i in idx]
        for i, patch in zip(idx, patches):
            views[i, :, dy[i]:dy[i] + ph[i], dx[i]:dx[i] + pw[i]] = patch
        return views
