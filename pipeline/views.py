from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .selectors import deal_summary_for


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The signed-in user's landing page: what they can see of the pipeline right now."""
    return render(request, "pipeline/home.html", {"summary": deal_summary_for(user=request.user)})
