"""Sign-in by email and password; permissions are answered by accounts.access via the User."""

from django.contrib.auth.backends import ModelBackend


class EmailBackend(ModelBackend):
    """ModelBackend's password check (timing-safe, is_active aware) with the email as login.

    Permission methods are not used: User.has_perm asks accounts.access directly, because a
    permission depends on the account being served, which ModelBackend knows nothing about.
    """

    def has_perm(self, user_obj, perm, obj=None):
        return False

    def has_module_perms(self, user_obj, app_label):
        return False
