"""The knowledge base in the desk's admin: articles (with a Markdown preview) and, on each
article's page, its passages as search sees them.

Who may do what is accounts/access.py: owners, admins and managers write articles; agents read
them (the read-only page shows the rendered article). Saving goes through kb/services.py, so
the version, the sanitised HTML and the passage rebuild after commit are the same as for an
import. Passages are never edited by hand: they are rebuilt from the article.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseNotAllowed
from django.urls import path, reverse
from django.utils.safestring import mark_safe
from django.utils.text import slugify

from accounts.sites import desk_admin_site
from config.admin import HearthModelAdmin, ReadOnlyTabularInline
from kb import services
from kb.importing import MAX_BODY_CHARS
from kb.markdown import html_sanitise, markdown_render
from kb.models import Article, Chunk

TEXT_PREVIEW_CHARS = 300


class ChunkInline(ReadOnlyTabularInline):
    model = Chunk
    fields = ["position", "heading_path", "text_start", "token_count", "embedding_model"]
    readonly_fields = fields
    show_change_link = False
    verbose_name = "passage"
    verbose_name_plural = "passages (as search and drafts see them; rebuilt from the article)"

    @admin.display(description="text")
    def text_start(self, chunk):
        return chunk.text if len(chunk.text) <= TEXT_PREVIEW_CHARS else chunk.text[:TEXT_PREVIEW_CHARS] + "…"


class ArticleForm(forms.ModelForm):
    source_url = forms.URLField(
        max_length=500, required=False, assume_scheme="https", label="Source URL",
        help_text=Article._meta.get_field("source_url").help_text,
    )

    class Meta:
        model = Article
        fields = ["title", "slug", "status", "locale", "category", "tags", "source_url", "body"]
        widgets = {"body": forms.Textarea(attrs={"rows": 24, "class": "vLargeTextField", "style": "font-family: monospace"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "slug" in self.fields:
            self.fields["slug"].required = False
            self.fields["slug"].help_text = "In the article's address. Left empty: made from the title."
        if "body" in self.fields:
            self.fields["body"].max_length = MAX_BODY_CHARS

    def clean_slug(self):
        slug = self.cleaned_data.get("slug") or slugify(self.data.get("title", ""))[:200]
        if not slug:
            raise forms.ValidationError("Give a slug, or a title with letters or digits to make one from.")
        if Article.objects.filter(slug=slug).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError("Another article already has this slug.")
        return slug


@admin.register(Article, site=desk_admin_site)
class ArticleAdmin(HearthModelAdmin):
    form = ArticleForm
    change_form_template = "admin/kb/article/change_form.html"
    list_display = ["title", "status", "locale", "category", "version", "passages", "indexed", "updated_at"]
    list_filter = ["status", "locale", "category"]
    search_fields = ["title", "slug", "body"]
    ordering = ["title", "id"]
    inlines = [ChunkInline]
    actions = ["publish", "archive", "reindex"]
    readonly_fields = ["rendered", "version", "published_at", "indexed", "author", "created_at", "updated_at"]

    def get_fieldsets(self, request, obj=None):
        editing = self.has_change_permission(request, obj) if obj is not None else True
        article = ["title", "slug", "status", "locale", "category", "tags", "source_url"]
        fieldsets = [(None, {"fields": [*article, "body"] if editing else article})]
        if obj is not None:
            fieldsets += [
                ("Rendered (as customers see it)", {"fields": ["rendered"]}),
                ("History", {"fields": ["version", "published_at", "indexed", "author", "created_at", "updated_at"]}),
            ]
        return fieldsets

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(chunk_total=Count("chunks"))

    @admin.display(description="passages", ordering="chunk_total")
    def passages(self, article):
        return getattr(article, "chunk_total", None)

    @admin.display(description="search index")
    def indexed(self, article):
        if article.indexed_version == article.version:
            if article.status != Article.Status.PUBLISHED:
                return "not searched (not published)"
            return f"indexed (version {article.version})"
        return "pending: passages being rebuilt"

    @admin.display(description="article")
    def rendered(self, article):
        # body_html is sanitised when saved; sanitised again here so nothing stored by other
        # means (a migration, a shell) can reach a reader's browser unsanitised.
        return mark_safe(f'<div class="kb-rendered">{html_sanitise(article.body_html)}</div>')  # noqa: S308

    # ------------------------------------------------------------------ saving through the services

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in ArticleForm.Meta.fields if name in form.cleaned_data}
        if change:
            article = services.article_update(article=Article.objects.get(pk=obj.pk), **data)
        else:
            article = services.article_create(author=request.user, **data)
        obj.pk = article.pk
        for name in ("version", "body_html", "published_at", "indexed_version", "created_at", "updated_at", "author_id"):
            setattr(obj, name, getattr(article, name))

    def delete_model(self, request, obj):
        obj.delete()  # its passages go with it (cascade): search stops finding it at once

    @admin.action(description="Publish (customers, search and drafts find them)", permissions=["change"])
    def publish(self, request, queryset):
        for article in queryset:
            services.article_publish(article=article)
        messages.success(request, f"Published {queryset.count()} article(s); their passages are being rebuilt.")

    @admin.action(description="Archive (no longer searched; nothing is deleted)", permissions=["change"])
    def archive(self, request, queryset):
        for article in queryset:
            services.article_archive(article=article)
        messages.success(request, f"Archived {queryset.count()} article(s).")

    @admin.action(description="Rebuild passages now (in the background)", permissions=["change"])
    def reindex(self, request, queryset):
        for article in queryset:
            services.article_reindex(article=article)
        messages.success(request, f"Queued the passages of {queryset.count()} article(s) for rebuilding.")

    # ------------------------------------------------------------------ preview

    def get_urls(self):
        return [
            path("preview/", self.admin_site.admin_view(self.preview_view), name="kb_article_preview"),
            *super().get_urls(),
        ]

    def preview_view(self, request):
        """The posted Markdown as customers would see it (sanitised): the editor's Preview."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not (self.has_add_permission(request) or self.has_change_permission(request)):
            raise PermissionDenied
        body = request.POST.get("body", "")
        if len(body) > MAX_BODY_CHARS or "\x00" in body:
            return HttpResponseBadRequest(f"A body of at most {MAX_BODY_CHARS:,} characters, without NUL characters.", content_type="text/plain")
        return HttpResponse(markdown_render(body), content_type="text/html; charset=utf-8")

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["preview_url"] = reverse("admin:kb_article_preview")
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

