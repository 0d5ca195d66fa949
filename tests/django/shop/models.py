from django.db import models


class Order(models.Model):
    reference = models.CharField(max_length=40, unique=True)
    quantity = models.PositiveIntegerField()
    confirmed = models.BooleanField(default=False)


class Event(models.Model):
    """What the tasks did, in the order they did it."""

    label = models.CharField(max_length=40)
