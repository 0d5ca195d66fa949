import json

from django.db import transaction
from django.http import HttpRequest, JsonResponse

from tests.django.shop.models import Order
from tests.django.shop.tasks import send_confirmation

MAX_QUANTITY = 10


class OutOfStockError(Exception):
    pass


def place_order(request: HttpRequest) -> JsonResponse:
    """Save the order and enqueue its confirmation in one transaction: a refused order leaves
    neither the row nor the job."""
    data = json.loads(request.body)
    try:
        with transaction.atomic():
            Order.objects.create(reference=data["reference"], quantity=data["quantity"])
            result = send_confirmation.enqueue(data["reference"])
            if data["quantity"] > MAX_QUANTITY:
                raise OutOfStockError(f"only {MAX_QUANTITY} in stock")
    except OutOfStockError as exc:
        return JsonResponse({"error": str(exc)}, status=409)
    return JsonResponse({"reference": data["reference"], "task_result": result.id}, status=201)
