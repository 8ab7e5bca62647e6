"""Archive masters and access copies under a format policy.

The original file is the evidence and is never touched. Beside it this package writes

* a **master** that stays readable for decades: the source's packets in Matroska (``remux``) or
  its decoded pictures and sound in FFV1 version 3 / Matroska (``ffv1``), chosen per source by
  :class:`FormatPolicy`, and proved lossless before it is kept (:func:`verify_lossless`);
* an **access copy** for viewing: H.264 / AAC in MP4 with the index first, at most 720p: the
  source's own packets when it already meets that profile (``method="remux"``, proved packet for
  packet), else encoded (``method="encode"``).

Every output is written to a hidden temporary file and renamed only after it was made and
verified, so a failure or an interruption leaves nothing at the destination. Outputs are
bit-exact: the same source and settings give the same bytes on every run.

Each output is made by a consumer of one shared decode pass (:mod:`media.fanout`):
:class:`MasterWriter` and :class:`AccessWriter`, wrapped for all-or-nothing output by
:class:`MasterJob` and :class:`AccessJob`; :func:`make_master` and :func:`make_access` run one
alone, :func:`records.derivatives.process_recording` runs both beside the gap checks. The source
is read once: the digests that prove a master are taken in that pass, so only the master is
decoded again.

The names below are imported from their submodules on first use (:mod:`media.lazy`), so that
importing :mod:`media.archive.policy` (as :mod:`records.settings` does) loads neither PyAV nor
NumPy. The stream copy itself is :func:`media.archive.remux.remux`.

Examples
--------
>>> from media.archive import make_master, make_access
>>> master = make_master("cam1.avi", "out/cam1.master.mkv", tags={"SOURCE_SHA256": "..."})
>>> master.action, master.sha256, [c.method for c in master.checks]   # doctest: +SKIP
(<Action.FFV1: 'ffv1'>, '9f...', ['frames'])
"""

from __future__ import annotations

from media.lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(["ArchiveError", "Progress", "VerificationError", "file_sha256", "stale_partials"], "_io"),
    **dict.fromkeys(["AccessEncoder", "access_size", "make_access_copy"], "access"),
    **dict.fromkeys(["SourceDigests", "StreamCheck", "frame_digest", "verify_lossless"], "digest"),
    **dict.fromkeys(["access_remux_refusal", "archive_scratch", "recording_access_refusal"], "estimate"),
    **dict.fromkeys(["FFV1Writer", "FFV1_PIX_FMT", "audio_action", "ffv1_pix_fmt", "transcode_ffv1"], "ffv1"),
    **dict.fromkeys(["AccessOptions", "Action", "ArchiveSettings", "FFV1Options", "FormatPolicy", "FormatRule",
                     "Profile"], "policy"),
    **dict.fromkeys(["RemuxWriter"], "remux"),
    **dict.fromkeys(["AccessJob", "AccessWriter", "ArchiveResult", "MasterJob", "MasterWriter", "access_digest_methods",
                     "decide", "make_access", "make_master", "master_tags", "remux_digest_methods",
                     "source_access_refusal", "source_format", "verify_master"], "make"),
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
