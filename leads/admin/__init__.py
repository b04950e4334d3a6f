from leads.admin.lead import LeadAdmin

__all__ = ["LeadAdmin"]
