"""Forms of the deal and lead pages. They validate input; writes go through services.

The company is a text field: a rep types its name and the view matches an existing
company (case-insensitive) or creates one, instead of scrolling a select of thousands.
"""

import datetime as dt
from decimal import Decimal

from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.access import Capability, can, restrict
from api.fields import money_messages
from periods.formats import day_text

from .choices import LeadStatus, StageKind
from .models import Deal, Lead, Product, Stage
from .validators import plain_length_errors

LOST_REASONS = ["Price", "Timing", "Competitor", "No budget", "No decision", "Bad fit"]


class DateInput(forms.DateInput):
    """The browser's date picker; it sends and expects ISO dates."""

    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%d")


class MoneyField(forms.DecimalField):
    """A non-negative amount with cents, typed as in a spreadsheet: "12,500", "$ 900.50"."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("max_digits", 14)
        kwargs.setdefault("decimal_places", 2)
        kwargs.setdefault("min_value", Decimal("0"))
        kwargs.setdefault("widget", forms.TextInput(attrs={"inputmode": "decimal"}))
        messages = money_messages(
            max_digits=kwargs["max_digits"], decimal_places=kwargs["decimal_places"]
        )
        kwargs["error_messages"] = {**messages, **kwargs.get("error_messages", {})}
        super().__init__(**kwargs)

    def to_python(self, value):
        if isinstance(value, str):
            value = value.strip().lstrip("$€£").replace(",", "").replace(" ", "")
        return super().to_python(value)

    def widget_attrs(self, widget):
        # DecimalField would add number-input attributes (step, min) to our text input.
        return {
            key: value
            for key, value in super().widget_attrs(widget).items()
            if key not in ("step", "min", "max")
        }


class PlainLengthErrorsMixin:
    """Too long a value is a field error saying how long it was ("At most 200 characters
    (you entered 10,000)."), not Django's wording; the inputs carry the same maxlength."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        plain_length_errors(self.fields.values())


def _owner_choices(user, current_owner_id: int | None):
    """Active people the user can see, plus the current owner (who may have moved team)."""
    users = restrict(get_user_model().objects.filter(is_active=True), user)
    if current_owner_id is not None:
        users = users | get_user_model().objects.filter(pk=current_owner_id)
    return users.order_by("first_name", "last_name", "username")


class DealForm(PlainLengthErrorsMixin, forms.ModelForm):
    """Create or edit a deal. A new deal picks its open stage; an existing one moves with
    the stage buttons, so every move leaves a StageChange through deal_move_to_stage."""

    company_name = forms.CharField(label="Company", max_length=200, required=False)
    amount = MoneyField(required=False, label="Amount")
    # The version the editor loaded: a save from an older one is refused (DealConflict).
    version = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    class Meta:
        model = Deal
        fields = ["name", "amount", "expected_close_date", "product", "stage", "owner"]
        labels = {"name": "Deal name", "expected_close_date": "Expected close"}
        widgets = {"expected_close_date": DateInput()}

    field_order = ["name", "company_name", "amount", "expected_close_date", "stage", "product"]

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        deal = self.instance
        creating = deal.pk is None
        self.fields["name"].widget.attrs.update(placeholder="e.g. Acme – 50 seats")
        self.fields["company_name"].widget.attrs.update(
            placeholder="Existing or new company", autocomplete="organization"
        )
        if not creating and deal.company_id:
            self.fields["company_name"].initial = deal.company.name
        if creating:
            del self.fields["version"]
        else:
            self.fields["version"].initial = deal.version
        self.fields["product"].queryset = Product.objects.filter(is_active=True)
        if deal.product_id:
            self.fields["product"].queryset |= Product.objects.filter(pk=deal.product_id)
        self.fields["product"].empty_label = "No product"
        if creating:
            stages = Stage.objects.filter(pipeline__is_default=True, kind=StageKind.OPEN)
            self.fields["stage"].queryset = stages.order_by("order")
            self.fields["stage"].empty_label = None
        else:
            del self.fields["stage"]
        if can(user, Capability.ASSIGN_OWNER):
            self.fields["owner"].queryset = _owner_choices(user, deal.owner_id)
            self.fields["owner"].empty_label = None
            if creating:
                self.fields["owner"].initial = user.pk
        else:
            del self.fields["owner"]
            if creating:
                deal.owner = user

    def clean_amount(self) -> Decimal:
        return self.cleaned_data["amount"] or Decimal("0")


class QuickAddForm(PlainLengthErrorsMixin, forms.Form):
    """The four fields that make a deal: the rest can wait for the deal's page."""

    name = forms.CharField(label="Deal", max_length=200)
    # Optional, as on the full form and in the model: a deal may wait for its company.
    company_name = forms.CharField(label="Company", max_length=200, required=False)
    amount = MoneyField(required=False, label="Amount")
    expected_close_date = forms.DateField(
        required=False, label="Expected close", widget=DateInput()
    )

    def clean_amount(self) -> Decimal:
        return self.cleaned_data["amount"] or Decimal("0")


class DealMoveForm(forms.Form):
    """A move to another open stage of the deal's pipeline; closing has its own form.
    `version`, when sent (the deal page sends it), refuses a move of a deal changed since."""

    stage = forms.ModelChoiceField(queryset=Stage.objects.none())
    version = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args, deal: Deal, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["stage"].queryset = Stage.objects.filter(
            pipeline_id=deal.stage.pipeline_id, kind=StageKind.OPEN
        )


class DealCloseForm(PlainLengthErrorsMixin, forms.Form):
    """Mark a deal won (amount and close date) or lost (reason) in one step."""

    outcome = forms.ChoiceField(
        choices=[(StageKind.WON, "Won"), (StageKind.LOST, "Lost")], widget=forms.HiddenInput
    )
    amount = MoneyField(required=False, label="Amount won")
    closed_on = forms.DateField(required=False, label="Close date", widget=DateInput())
    lost_reason = forms.CharField(
        required=False,
        max_length=200,
        label="Why was it lost?",
        widget=forms.TextInput(attrs={"list": "lost-reasons", "placeholder": "e.g. Price"}),
    )
    version = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args, deal: Deal, **kwargs) -> None:
        kwargs.setdefault("initial", {})
        kwargs["initial"].setdefault("amount", deal.amount)
        kwargs["initial"].setdefault("version", deal.version)
        kwargs["initial"].setdefault("closed_on", timezone.localdate())
        super().__init__(*args, **kwargs)
        self.deal = deal

    def clean(self) -> dict:
        data = super().clean()
        outcome = data.get("outcome")
        if outcome == self.deal.stage.kind:
            raise forms.ValidationError(f"This deal is already {outcome}.")
        if outcome == StageKind.WON and data.get("amount") is None and "amount" not in self.errors:
            self.add_error("amount", "Enter the amount won.")
        reason = data.get("lost_reason", "").strip()
        if outcome == StageKind.LOST and not reason and "lost_reason" not in self.errors:
            self.add_error("lost_reason", "Say why it was lost: it tells the team what to fix.")
        closed_on = data.get("closed_on") or timezone.localdate()
        created_on = timezone.localtime(self.deal.created_at).date()
        # A close in the future is refused by the model's rule (pipeline.validators).
        if closed_on < created_on:
            self.add_error("closed_on", f"The deal was created on {day_text(created_on)}.")
        data["closed_on"] = closed_on
        return data

    def closed_at(self) -> dt.datetime:
        """The moment of the close: now for today, else midday of the chosen day (but not
        before the deal was created)."""
        closed_on = self.cleaned_data["closed_on"]
        if closed_on == timezone.localdate():
            return timezone.now()
        midday = timezone.make_aware(dt.datetime.combine(closed_on, dt.time(12)))
        return max(midday, self.deal.created_at)


class LeadForm(PlainLengthErrorsMixin, forms.ModelForm):
    """Add a lead: who, at which company, from where."""

    company_name = forms.CharField(label="Company", max_length=200)

    class Meta:
        model = Lead
        fields = ["contact_name", "contact_email", "source", "owner"]
        labels = {"contact_name": "Contact", "contact_email": "Email"}

    field_order = ["company_name", "contact_name", "contact_email", "source", "owner"]

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["company_name"].widget.attrs.update(
            placeholder="Existing or new company", autocomplete="organization"
        )
        self.fields["contact_name"].widget.attrs.update(placeholder="e.g. Jane Doe")
        self.fields["source"].empty_label = "Unknown"
        if can(user, Capability.ASSIGN_OWNER):
            self.fields["owner"].queryset = _owner_choices(user, None)
            self.fields["owner"].empty_label = None
            self.fields["owner"].initial = user.pk
        else:
            del self.fields["owner"]
            self.instance.owner = user


class LeadStatusForm(PlainLengthErrorsMixin, forms.Form):
    """Work, qualify or disqualify a lead; disqualifying needs a reason."""

    status = forms.ChoiceField(
        choices=[
            (LeadStatus.WORKING, "Working"),
            (LeadStatus.QUALIFIED, "Qualified"),
            (LeadStatus.DISQUALIFIED, "Disqualified"),
        ]
    )
    reason = forms.CharField(required=False, max_length=200)

    def clean(self) -> dict:
        data = super().clean()
        if data.get("status") == LeadStatus.DISQUALIFIED and not data.get("reason", "").strip():
            self.add_error("reason", "Give a reason to disqualify the lead.")
        return data


class LeadConvertForm(PlainLengthErrorsMixin, forms.Form):
    """Turn a lead into a deal at the first open stage."""

    deal_name = forms.CharField(label="Deal name", max_length=200)
    amount = MoneyField(required=False, label="Amount")
    expected_close_date = forms.DateField(
        required=False, label="Expected close", widget=DateInput()
    )

    def clean_amount(self) -> Decimal:
        return self.cleaned_data["amount"] or Decimal("0")


class ImportForm(forms.Form):
    """An upload on the import page. The kinds offered depend on who uploads."""

    kind = forms.ChoiceField(label="What the file holds", widget=forms.RadioSelect)
    file = forms.FileField(
        label="CSV file",
        help_text="UTF-8 (with or without BOM), comma or semicolon separated, header first.",
    )
    skip_invalid = forms.BooleanField(
        label="Import the good rows even if some are bad",
        required=False,
        help_text="Off: any bad row stops the whole import and nothing is written.",
    )

    def __init__(self, *args, kinds: list[tuple[str, str]], max_bytes: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = kinds
        self.fields["kind"].initial = kinds[0][0]
        # One kind to choose from (a manager: deals) is said, not offered as a radio.
        self.only_kind = kinds[0][1] if len(kinds) == 1 else ""
        if self.only_kind:
            self.fields["kind"].widget = forms.HiddenInput()
        self.max_bytes = max_bytes

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > self.max_bytes:
            limit = self.max_bytes // (1024 * 1024)
            raise forms.ValidationError(
                f"The file is over {limit} MB; split it or use the command."
            )
        return upload
