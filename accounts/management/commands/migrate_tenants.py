"""manage.py migrate_tenants: public first, then every tenant in parallel, then the template.

A tenant that fails is named in one line and the others go on; the summary counts both and
the exit code is 1 when any failed (and when public failed: then no tenant is touched).
Tenants with nothing to apply are found with one query and reported up to date without
being migrated (accounts/tenant_migrations.py).
"""

import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from accounts import tenant_template
from accounts.tenant_migrations import MigrationTargetError, TenantMigrated, migration_targets, tenant_schemas, tenants_migrate


class Command(BaseCommand):
    help = "Migrate the public schema, then all tenants in parallel (failures isolated), then refresh the tenant template."

    def add_arguments(self, parser):
        parser.add_argument("app_label", nargs="?", help="Only this app's migrations (as migrate_schemas)")
        parser.add_argument("migration_name", nargs="?", help="Migrate to this migration of app_label (back or forward)")
        parser.add_argument(
            "--processes", type=int, default=settings.TENANT_MULTIPROCESSING_MAX_PROCESSES,
            help="Tenants migrated at once (default TENANT_MULTIPROCESSING_MAX_PROCESSES); 1 runs them one after another",
        )
        parser.add_argument("--schema", action="append", help="Only this tenant (repeatable); public is still migrated first")
        parser.add_argument("--fake", action="store_true", help="Record the migrations as applied without running them")
        parser.add_argument("--skip-public", action="store_true", help="Do not migrate the public schema first")
        parser.add_argument("--skip-template", action="store_true", help="Do not refresh the tenant template afterwards")

    def handle(self, *args, **options):
        if options["processes"] < 1:
            raise CommandError("--processes must be at least 1")
        if options["migration_name"] and not options["app_label"]:
            raise CommandError("a migration name needs its app label")
        verbosity = options["verbosity"]
        migrate_options = {
            "app_label": options["app_label"], "migration_name": options["migration_name"], "fake": options["fake"],
            "verbosity": max(0, verbosity - 1),  # -v 2 shows each tenant's migrate output
        }
        try:
            migration_targets(app_label=options["app_label"], migration_name=options["migration_name"])
            schemas = tenant_schemas(only=options["schema"])
        except ValueError as error:  # MigrationTargetError too
            raise CommandError(str(error)) from error

        started = time.perf_counter()
        if not options["skip_public"]:
            try:
                call_command("migrate_schemas", shared=True, interactive=False, executor="standard", **migrate_options)
            except Exception as error:
                raise CommandError(f"public schema failed to migrate, no tenant was touched: {type(error).__name__}: {error}") from error
            if verbosity:
                self.stdout.write(f"public migrated in {time.perf_counter() - started:.1f} s")

        count, done = len(schemas), 0
        width = len(str(count))

        def progress(result: TenantMigrated) -> None:
            nonlocal done
            done += 1
            if result.ok and not result.applied:
                if verbosity:
                    self.stdout.write(f"[{done:>{width}}/{count}] {result.schema} up to date")
            elif result.ok:
                if verbosity:
                    self.stdout.write(f"[{done:>{width}}/{count}] {result.schema} migrated ({result.seconds:.1f} s)")
                if verbosity > 1:
                    self.stdout.write("".join(f"    {migration}\n" for migration in result.applied), ending="")
            else:
                self.stderr.write(f"[{done:>{width}}/{count}] {result.schema} FAILED: {result.error}")

        tenants_started = time.perf_counter()
        results = tenants_migrate(schemas=schemas, processes=options["processes"], migrate_options=migrate_options, on_result=progress)
        failed = [result for result in results if not result.ok]
        up_to_date = sum(1 for result in results if result.ok and not result.applied)
        processes = max(1, min(options["processes"], count - up_to_date))
        if verbosity or failed:
            self.stdout.write(
                f"{count - len(failed)} of {count} tenants migrated in {time.perf_counter() - tenants_started:.1f} s "
                f"({processes} process{'es' if processes > 1 else ''}); {len(failed)} failed, {up_to_date} already up to date"
            )

        if not options["skip_template"]:
            try:
                rebuilt = tenant_template.template_refresh()
            except Exception as error:  # new accounts then migrate their schema: slower, not broken
                raise CommandError(f"the tenant template failed to rebuild: {type(error).__name__}: {error}") from error
            if verbosity:
                self.stdout.write("tenant template rebuilt" if rebuilt else "tenant template up to date")
            # Accounts created while this ran may come from the old template. The swap above
            # waited for every sign-up that was copying the old one, so listing again now
            # finds them all; later ones are copies of the new template.
            if not options["schema"]:
                late = [schema for schema in tenant_schemas() if schema not in set(schemas)]
                if late:
                    count += len(late)
                    results = tenants_migrate(schemas=late, processes=options["processes"], migrate_options=migrate_options, on_result=progress)
                    failed += [result for result in results if not result.ok]

        if failed:
            for result in failed:
                self.stderr.write(f"failed: {result.schema}: {result.error}")
            raise CommandError(f"{len(failed)} of {count} tenants failed to migrate: {', '.join(result.schema for result in failed)}")

