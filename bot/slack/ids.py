"""Callback, block and action ids shared by templates, listeners and the manifest test."""

# views
NEW_TICKET_VIEW = "ticket_new"
LOADING_VIEW = "ticket_new_loading"
RESULT_VIEW = "ticket_new_result"

# new-ticket modal: block id -> action id of its input
SUBJECT_BLOCK, SUBJECT_INPUT = "subject", "subject_input"
DESCRIPTION_BLOCK, DESCRIPTION_INPUT = "description", "description_input"
CATEGORY_BLOCK, CATEGORY_INPUT = "category", "category_input"
PRIORITY_BLOCK, PRIORITY_INPUT = "priority", "priority_input"
ATTACHMENT_BLOCK, ATTACHMENT_INPUT = "attachment", "attachment_input"
#: a message shortcut's form: the message's files, ticked to attach
MESSAGE_FILES_BLOCK, MESSAGE_FILES_INPUT = "message_files", "message_files_input"

# shortcuts (app-manifest.yml features.shortcuts)
MESSAGE_SHORTCUT = "ticket_from_message"

# buttons and selects
LOOKUP_RETRY = "lookup_retry"
DRAFT_RESTORE = "draft_restore"
CLOSE = "ticket_close"
REOPEN = "ticket_reopen"
PRIORITY_SELECT = "ticket_priority"
ASSIGN_ME = "ticket_assign_me"
TAGS_SELECT = "ticket_tags"
LIST_PAGE_PREVIOUS = "ticket_list_page_prev"
LIST_PAGE_NEXT = "ticket_list_page_next"

#: block id of a card's action row is CARD_ACTIONS_PREFIX + ticket id
CARD_ACTIONS_PREFIX = "card:"

# App Home
HOME_SETTINGS_BLOCK = "home_settings"
HOME_DM_SETTING = "home_dm_setting"
