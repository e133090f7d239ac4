"""WhatsApp Cloud API webhook bodies as Meta sends them, for integration tests."""

import json
import time


def text_webhook(phone_number_id, user, wamid, text):
    """One inbound text message from `user` to the business number `phone_number_id`."""
    return json.dumps({
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "5215550000000", "phone_number_id": phone_number_id},
            "contacts": [{"profile": {"name": "Cliente"}, "wa_id": user}],
            "messages": [{"from": user, "id": wamid, "timestamp": str(int(time.time())),
                          "type": "text", "text": {"body": text}}]}}]}]}).encode()
