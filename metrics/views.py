from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from pipeline.selectors import deal_summary_for


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The signed-in user's landing page (to become a redirect to their dashboard)."""
    return render(request, "pipeline/home.html", {"summary": deal_summary_for(user=request.user)})
