"""How passwords are hashed (settings.PASSWORD_HASHERS' first entry)."""

from __future__ import annotations

from django.contrib.auth.hashers import Argon2PasswordHasher


class HearthArgon2PasswordHasher(Argon2PasswordHasher):
    """Argon2id at OWASP's recommended minimum (19 MiB of memory, 2 passes, 1 lane) instead of
    Django's defaults (100 MiB, 2 passes, 8 lanes).

    Django's defaults cost a core about 0.2 s on a quiet 2-core machine and over 1 s under
    load (8 lanes compete with every other process), most of a sign-up; these cost 0.03 to
    0.1 s and still make each guess need 19 MiB of memory, which is what defeats GPU
    guessing. The algorithm's name stays `argon2`: a hash stores its own parameters, so hashes
    made with other parameters verify and are rehashed with these at their owner's next login.
    """

    time_cost = 2
    memory_cost = 19 * 1024  # KiB
    parallelism = 1
