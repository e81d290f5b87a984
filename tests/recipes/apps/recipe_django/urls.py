from django.urls import path

from . import views

urlpatterns = [
    path("signup/<str:user_id>", views.signup),
    path("upgrade", views.upgrade),
]
