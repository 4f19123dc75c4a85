from django.urls import path

from analytics import api

urlpatterns = [
    path("summary", api.ReportSummaryApi.as_view(), name="api-reports-summary"),
    path("daily", api.ReportDailyApi.as_view(), name="api-reports-daily"),
    path("monthly", api.ReportMonthlyApi.as_view(), name="api-reports-monthly"),
]
