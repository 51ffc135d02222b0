"""Names of the activities, so workflows can call them without importing their code."""

CREATE_PAYMENT_LINK = "create_payment_link"
SEND_MESSAGE = "send_message"
OPEN_CRM_TASK = "open_crm_task"
POST_TO_ERP = "post_to_erp"
REQUEST_CONTACT = "request_contact"
CLAIM_CONTACT = "claim_contact"
WITHDRAW_CONTACT = "withdraw_contact"
