"""The user's own built site, served by the sandbox instead of the demo site.

Named by ``chaos sandbox up --site-dir DIR``, ``chaos gate --target sandbox --site-dir DIR``
or, for the sandbox a plain ``chaos run`` starts by itself, the variable
:data:`SITE_DIR_VARIABLE`. Checked before anything starts (:func:`check_site_dir`): a
directory with an ``index.html`` at its top, as Hugo's ``public/`` is.

Light on purpose: the gate and the sandbox control import it before any sandbox runs.
"""

from pathlib import Path

from chaos_runner._errors import ConfigurationError

__all__ = ["SITE_DIR_VARIABLE", "check_site_dir"]

#: The built site the sandbox control's sandbox serves (the gate sets it for its runs).
SITE_DIR_VARIABLE = "CHAOS_SANDBOX_SITE_DIR"


def check_site_dir(site_dir: Path, name: str = "--site-dir") -> Path:
    """``site_dir`` made absolute when it holds a built site; else ConfigurationError, one line.

    ``name`` is how the user gave it (an option or a variable), for the message.
    """
    given = f"{name} {site_dir}" if name.startswith("-") else f"{name}={site_dir}"
    if not site_dir.exists():
        raise ConfigurationError(
            f"{given}: there is no such directory; build the site first (`hugo` writes it "
            "to public/) and name that directory."
        )
    if not site_dir.is_dir():
        raise ConfigurationError(
            f"{given} is a file, not a directory; name the site's build directory (Hugo's public/)."
        )
    if not (site_dir / "index.html").is_file():
        raise ConfigurationError(
            f"{given} has no index.html at its top, so it is not a built site; name the "
            "build directory (Hugo's public/), not the site's sources."
        )
    return site_dir.absolute()
